package proxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestSwitchUnderLoad drives 50 keep-alive connections through edge while switching
// blue↔green 20 times. Every response must be 200, and every request that ran
// entirely between two switches must come from the color the last switch chose.
func TestSwitchUnderLoad(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))

	const workers = 50
	const switches = 20
	// gen is even while no switch runs; expected[gen] is the live color then.
	var gen atomic.Int64
	var expected sync.Map
	expected.Store(int64(0), "blue")
	var checked, total atomic.Int64
	stop := make(chan struct{})
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &fasthttp.HostClient{Addr: s.HTTPAddr(), MaxConns: 1, ReadTimeout: 30 * time.Second}
			req := fasthttp.AcquireRequest()
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(fmt.Sprintf("http://load.example/w%d", w))
			for {
				select {
				case <-stop:
					errc <- nil
					return
				default:
				}
				g1 := gen.Load()
				if err := c.Do(req, resp); err != nil {
					errc <- fmt.Errorf("worker %d: %w", w, err)
					return
				}
				g2 := gen.Load()
				total.Add(1)
				body := string(resp.Body())
				if resp.StatusCode() != 200 {
					errc <- fmt.Errorf("worker %d: status %d %q", w, resp.StatusCode(), body)
					return
				}
				if g1 == g2 && g1%2 == 0 {
					want, _ := expected.Load(g1)
					if body != want {
						errc <- fmt.Errorf("worker %d: got %q between switches, want %q (gen %d)", w, body, want, g1)
						return
					}
					checked.Add(1)
				}
			}
		}()
	}
	// Let the load reach every connection before switching.
	eventually(t, 10*time.Second, "load on all workers", func() bool { return total.Load() >= workers*4 })
	colors := []Color{Green, Blue}
	for i := range switches {
		to := colors[i%2]
		gen.Add(1) // odd: switching
		res, err := s.Switch(context.Background(), "web", to, 5*time.Second)
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("switch %d to %s: %v", i, to, err)
		}
		if !res.Changed || res.Drain == nil || res.Drain.Cut != 0 {
			t.Errorf("switch %d: %+v %+v", i, res, res.Drain)
		}
		expected.Store(gen.Load()+1, to.String())
		gen.Add(1) // even: stable on `to`
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d requests, %d checked against the expected color, %d switches", total.Load(), checked.Load(), switches)
	if checked.Load() < 100 {
		t.Fatalf("only %d requests ran between switches; the test proved little", checked.Load())
	}
}

func TestSwitchRefused(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, green *upstream) string // returns green's address
		reason string
	}{
		{"green is down", func(t *testing.T, g *upstream) string { return deadAddr(t) }, "connection refused"},
		{"green answers 500 on /health", func(t *testing.T, g *upstream) string { g.health.Store(500); return g.addr }, "GET /health answered 500"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
			addr := tc.setup(t, green)
			dir := shortTempDir(t)
			cfg := oneApp(blue, green, dir)
			cfg.Apps[0].Green = []string{addr}
			s := startProxy(t, cfg)
			c := client(s)
			_, err := s.Switch(context.Background(), "web", Green, 400*time.Millisecond)
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeUnhealthy {
				t.Fatalf("switch error %v, want code %s", err, CodeUnhealthy)
			}
			want := fmt.Sprintf("green (%s) is not healthy: %s; traffic stays on blue", addr, tc.reason)
			if e.Msg != want {
				t.Fatalf("message %q\nwant    %q", e.Msg, want)
			}
			for range 20 {
				if _, body, _ := get(t, c, "a", "/"); body != "blue" {
					t.Fatalf("traffic moved to %q", body)
				}
			}
			if st := s.Status(); st.Apps[0].Active != "blue" || st.Apps[0].Previous != "" {
				t.Fatalf("status %+v", st.Apps[0])
			}
			if green.hits.Load() != 0 {
				t.Fatal("green got traffic")
			}
		})
	}
}

func TestSwitchToActiveColorIsNoop(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	res, err := s.Switch(context.Background(), "", Blue, 0)
	if err != nil || res.Changed || !strings.Contains(res.Message, "already on blue") {
		t.Fatalf("%+v %v", res, err)
	}
}

// TestSwitchToUnhealthyLiveColorFails: "edge switch blue" while blue is live but
// down must not say "nothing to do": it fails with CodeUnhealthy after the timeout,
// and succeeds again once blue passes its checks.
func TestSwitchToUnhealthyLiveColorFails(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	blue.health.Store(503)
	bslot := s.table.Load().apps["web"].pools[Blue].replicas[0]
	eventually(t, 5*time.Second, "blue marked down", func() bool { ok, _, _, _ := bslot.health.snapshot(); return !ok })
	start := time.Now()
	res, err := s.Switch(context.Background(), "web", Blue, 300*time.Millisecond)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeUnhealthy || res != nil ||
		!strings.Contains(e.Msg, "web is already on blue ("+blue.addr+"), but blue is not healthy: ") ||
		!strings.Contains(e.Msg, "switch to green once it is ready") {
		t.Fatalf("switch to the dead live color: %+v %v", res, err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("refusal took %s with timeout 300ms", took)
	}
	if st := s.Status().Apps[0]; st.Active != "blue" || st.Previous != "" {
		t.Fatalf("state changed: %+v", st)
	}
	blue.health.Store(200)
	res, err = s.Switch(context.Background(), "web", Blue, 5*time.Second)
	if err != nil || res.Changed || !strings.Contains(res.Message, "already on blue ("+blue.addr+"), which is healthy") {
		t.Fatalf("after recovery: %+v %v", res, err)
	}
}

// TestSlowRequestsCompleteAcrossSwitch keeps five 2-second requests in flight on
// blue while switching to green: the switch waits for them, they all succeed, and
// requests after the switch go to green.
func TestSlowRequestsCompleteAcrossSwitch(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	c := client(s)
	const slow = 5
	results := make(chan string, slow)
	for range slow {
		go func() {
			code, body, err := tryGet(c, "a", "/slow?ms=2000")
			results <- fmt.Sprintf("%d %s%v", code, body, err)
		}()
	}
	bslot := s.table.Load().apps["web"].pools[Blue]
	eventually(t, 10*time.Second, "slow requests in flight", func() bool { return bslot.inFlight.Load() == slow })
	start := time.Now()
	res, err := s.Switch(context.Background(), "web", Green, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Drain.Finished < slow || res.Drain.Cut != 0 {
		t.Fatalf("drain %+v", res.Drain)
	}
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Fatalf("switch returned after %s, before the slow requests finished", took)
	}
	for range slow {
		if r := <-results; r != "200 blue<nil>" {
			t.Fatalf("slow request got %q", r)
		}
	}
	if _, body, _ := get(t, c, "a", "/"); body != "green" {
		t.Fatalf("after the switch: %q", body)
	}
}

func TestDrainDeadlineCutsLongRequests(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Apps[0].Drain = 300 * time.Millisecond
	s := startProxy(t, cfg)
	c := client(s)
	done := make(chan int, 1)
	go func() {
		code, _, _ := tryGet(c, "a", "/slow?ms=3000")
		done <- code
	}()
	bslot := s.table.Load().apps["web"].pools[Blue]
	eventually(t, 10*time.Second, "the long request in flight", func() bool { return bslot.inFlight.Load() == 1 })
	res, err := s.Switch(context.Background(), "web", Green, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Drain.Cut != 1 || res.Drain.Duration > 3*time.Second {
		t.Fatalf("drain %+v", res.Drain)
	}
	select {
	case code := <-done:
		if code != 502 {
			t.Fatalf("cut request got %d, want 502", code)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the cut request did not end")
	}
	eventually(t, 5*time.Second, "blue idle", func() bool { return bslot.inFlight.Load() == 0 && bslot.replicas[0].conns.len() == 0 })
	// Switching back to blue works: killed pooled connections are not reused.
	if _, err := s.Switch(context.Background(), "web", Blue, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if code, body, _ := get(t, c, "a", "/"); code != 200 || body != "blue" {
			t.Fatalf("after switching back: %d %q", code, body)
		}
	}
}

func TestRollback(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	_, err := s.Rollback(context.Background(), "web", 0)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeNoPrevious {
		t.Fatalf("rollback before any switch: %v", err)
	}
	if _, err := s.Switch(context.Background(), "web", Green, 0); err != nil {
		t.Fatal(err)
	}
	res, err := s.Rollback(context.Background(), "", 0)
	if err != nil || res.To != "blue" || res.From != "green" {
		t.Fatalf("rollback: %+v %v", res, err)
	}
	st := s.Status().Apps[0]
	if st.Active != "blue" || st.Previous != "green" {
		t.Fatalf("status %+v", st)
	}
}

// TestConcurrentSwitchesAreSerialized starts a switch whose drain waits for a slow
// request, then a second switch: the second only runs after the first returned.
func TestConcurrentSwitchesAreSerialized(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	c := client(s)
	go tryGet(c, "a", "/slow?ms=1500") //nolint:errcheck
	bslot := s.table.Load().apps["web"].pools[Blue]
	eventually(t, 10*time.Second, "slow request in flight", func() bool { return bslot.inFlight.Load() == 1 })
	var firstDone, secondDone atomic.Int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if _, err := s.Switch(context.Background(), "web", Green, 0); err != nil {
			t.Error(err)
		}
		firstDone.Store(time.Now().UnixNano())
	}()
	eventually(t, 5*time.Second, "the first switch to flip", func() bool { return s.Status().Apps[0].Active == "green" })
	go func() {
		defer wg.Done()
		if _, err := s.Switch(context.Background(), "web", Blue, 0); err != nil {
			t.Error(err)
		}
		secondDone.Store(time.Now().UnixNano())
	}()
	wg.Wait()
	if secondDone.Load() < firstDone.Load() {
		t.Fatal("the second switch finished before the first")
	}
	if s.Status().Apps[0].Active != "blue" {
		t.Fatal("final color is not the last switch's")
	}
}

func TestSwitchUnknownAppAndAmbiguity(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Apps = append(cfg.Apps, AppConfig{Name: "api", Blue: []string{blue.addr}, Green: []string{green.addr}, Health: fastHealth})
	s := startProxy(t, cfg)
	for _, name := range []string{"nope", ""} {
		_, err := s.Switch(context.Background(), name, Green, 0)
		var e *Error
		if !errors.As(err, &e) || e.Status != 400 {
			t.Fatalf("switch %q: %v", name, err)
		}
	}
}
