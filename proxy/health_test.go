package proxy

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// healthLog records health transitions.
type healthLog struct {
	mu     sync.Mutex
	events []string
}

func (h *healthLog) HealthChanged(app string, c Color, addr string, healthy bool, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	state := "down"
	if healthy {
		state = "up"
	}
	h.events = append(h.events, c.String()+" "+state)
}

func (h *healthLog) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.events...)
}

func TestHealthRiseAndFall(t *testing.T) {
	h := &health{cfg: HealthConfig{Rise: 2, Fall: 3}, color: Green}
	log := &healthLog{}
	h.consumer = log
	fail := errors.New("connection refused")
	steps := []struct {
		err  error
		want bool
	}{
		{nil, true},   // the first result decides directly
		{fail, true},  // 1 failure of 3
		{fail, true},  // 2
		{nil, true},   // a pass resets the failures
		{fail, true},  // 1
		{fail, true},  // 2
		{fail, false}, // 3: unhealthy
		{nil, false},  // 1 pass of 2
		{fail, false}, // resets the passes
		{nil, false},  // 1
		{nil, true},   // 2: healthy
	}
	for i, st := range steps {
		h.record(st.err)
		if h.healthy.Load() != st.want {
			t.Fatalf("step %d: healthy %v, want %v", i, h.healthy.Load(), st.want)
		}
	}
	got := log.list()
	want := []string{"green up", "green down", "green up"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("events %v, want %v", got, want)
	}
	if _, _, last, _ := h.snapshot(); last != "connection refused" {
		t.Fatalf("last error %q", last)
	}
}

// TestActiveChecksFollowUpstream watches both colors' health change with the real
// checker loop as the upstream's /health answer changes.
func TestActiveChecksFollowUpstream(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	eventually(t, 5*time.Second, "both healthy", func() bool { return healthyNow(s, Blue) && healthyNow(s, Green) })
	green.health.Store(500)
	eventually(t, 5*time.Second, "green unhealthy", func() bool { return !healthyNow(s, Green) })
	if !healthyNow(s, Blue) {
		t.Fatal("blue went down with green")
	}
	if last := s.Status().Apps[0].Slots.Green.LastError; last != "GET /health answered 500" {
		t.Fatalf("last error %q", last)
	}
	green.health.Store(204)
	eventually(t, 5*time.Second, "green healthy again", func() bool { return healthyNow(s, Green) })
	green.stop()
	eventually(t, 5*time.Second, "stopped green unhealthy", func() bool { return !healthyNow(s, Green) })
}

func healthyNow(s *Server, c Color) bool {
	st := s.Status().Apps[0].Slots
	if c == Blue {
		return st.Blue.Healthy
	}
	return st.Green.Healthy
}

// TestPassiveFailuresCount: connect errors while proxying count against health even
// between active checks.
func TestPassiveFailuresCount(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Apps[0].Health.Interval = time.Hour // no active checks after the first
	cfg.Apps[0].Health.Fall = 2
	s := startProxy(t, cfg)
	if !healthyNow(s, Blue) {
		t.Fatal("blue not healthy after the first check")
	}
	blue.stop()
	c := client(s)
	for range 2 {
		if code, _, _ := get(t, c, "a", "/"); code != 502 {
			t.Fatalf("status %d, want 502", code)
		}
	}
	if healthyNow(s, Blue) {
		t.Fatal("passive failures did not mark blue unhealthy")
	}
}

// TestProbeOutOfTimeReportsLastFinding: on a loaded machine a probe may run out of
// time before a check even starts. The refusal then says what the checks last found
// on the down color, and the check that never ran is not recorded as a failure.
func TestProbeOutOfTimeReportsLastFinding(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	green.health.Store(500)
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	g := s.table.Load().apps["web"].pools[Green].replicas[0].health
	eventually(t, 5*time.Second, "green known down", func() bool { ok, known, _, _ := g.snapshot(); return known && !ok })
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := g.probe(ctx); err == nil || err.Error() != "GET /health answered 500" {
		t.Fatalf("probe out of time: %v", err)
	}
	if err := g.check(ctx); !errors.Is(err, errNoTimeForCheck) {
		t.Fatalf("check out of time: %v", err)
	}
	g.record(errNoTimeForCheck)
	if _, _, last, _ := g.snapshot(); last != "GET /health answered 500" {
		t.Fatalf("a check that never ran was recorded: %q", last)
	}
}

// TestHealthChecksNeverOverlap: with a timeout longer than the interval and an
// upstream slower than the interval, checks of one replica (the loop's and a
// switch's probe) still run one at a time, and slow passes are passes.
func TestHealthChecksNeverOverlap(t *testing.T) {
	var now, most, total atomic.Int32
	var green *upstream
	green = startUpstreamWith(t, "green", func(srv *fasthttp.Server) {
		srv.Handler = func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) == "/health" {
				n := now.Add(1)
				defer now.Add(-1)
				total.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(120 * time.Millisecond)
			}
			green.serve(ctx)
		}
	})
	blue := startUpstream(t, "blue")
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Apps[0].Health = HealthConfig{Path: "/health", Interval: 50 * time.Millisecond, Timeout: 400 * time.Millisecond, Rise: 2, Fall: 2}
	s := startProxy(t, cfg)
	if _, err := s.Switch(context.Background(), "web", Green, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if most.Load() != 1 || total.Load() < 4 {
		t.Fatalf("%d checks, at most %d at once; want one at a time", total.Load(), most.Load())
	}
	if st := s.Status().Apps[0].Slots.Green; !st.Healthy {
		t.Fatalf("slow but passing checks made green %+v", st)
	}
}

// TestHealthTimeoutDefault: a timeout left out is min(1s, interval).
func TestHealthTimeoutDefault(t *testing.T) {
	for _, tt := range []struct{ interval, want time.Duration }{
		{500 * time.Millisecond, 500 * time.Millisecond}, {5 * time.Second, time.Second}, {0, time.Second},
	} {
		cfg := withDefaults(Config{Apps: []AppConfig{{Name: "web", Health: HealthConfig{Interval: tt.interval}}}})
		if got := cfg.Apps[0].Health.Timeout; got != tt.want {
			t.Errorf("interval %s: timeout %s, want %s", tt.interval, got, tt.want)
		}
	}
}
