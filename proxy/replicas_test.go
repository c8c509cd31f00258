package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

// killable wraps an upstream so that kill can end it the way a crash does: the
// listener and every open connection close at once, mid-request or not.
type killable struct {
	*upstream
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func startKillable(t *testing.T, name string) *killable {
	k := &killable{conns: map[net.Conn]bool{}}
	k.upstream = startUpstreamWith(t, name, k.track)
	return k
}

func (k *killable) track(srv *fasthttp.Server) {
	srv.ConnState = func(c net.Conn, st fasthttp.ConnState) {
		k.mu.Lock()
		defer k.mu.Unlock()
		if st == fasthttp.StateClosed || st == fasthttp.StateHijacked {
			delete(k.conns, c)
		} else {
			k.conns[c] = true
		}
	}
}

func (k *killable) kill() {
	_ = k.ln.Close()
	k.mu.Lock()
	defer k.mu.Unlock()
	for c := range k.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, as a crashed process's sockets
		}
		_ = c.Close()
	}
}

// restart serves again on the same address.
func (k *killable) restart(t *testing.T) {
	ln, err := net.Listen("tcp", k.addr)
	if err != nil {
		t.Fatal(err)
	}
	k.ln = ln
	go k.srv.Serve(ln) //nolint:errcheck
}

func replicaStatus(s *Server, c Color, i int) ReplicaStatus {
	st := s.Status().Apps[0].Slots.Blue
	if c == Green {
		st = s.Status().Apps[0].Slots.Green
	}
	return st.Replicas[i]
}

// load runs workers doing GETs until stop closes, counting answers by body and
// failures (anything accept refuses, or a transport error) with their first example.
type load struct {
	bodies   sync.Map // body -> *atomic.Int64
	total    atomic.Int64
	failures atomic.Int64
	firstErr atomic.Value
	wg       sync.WaitGroup
	stop     chan struct{}

	mu        sync.Mutex
	latencies []time.Duration
}

func startLoad(s *Server, workers int, path string) *load {
	return startLoadWith(s, workers, func(w int, req *fasthttp.Request) { req.SetRequestURI("http://a" + path) }, nil)
}

// startLoadWith lets the caller build each request (worker index w) and decide
// which answers pass (nil: only 200).
func startLoadWith(s *Server, workers int, build func(w int, req *fasthttp.Request), accept func(resp *fasthttp.Response) bool) *load {
	l := &load{stop: make(chan struct{})}
	if accept == nil {
		accept = func(resp *fasthttp.Response) bool { return resp.StatusCode() == 200 }
	}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c := &fasthttp.HostClient{Addr: s.HTTPAddr(), MaxConns: 1, ReadTimeout: 30 * time.Second}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				req.Reset()
				build(w, req)
				start := time.Now()
				err := c.Do(req, resp)
				took := time.Since(start)
				l.total.Add(1)
				l.mu.Lock()
				l.latencies = append(l.latencies, took)
				l.mu.Unlock()
				if err != nil || !accept(resp) {
					l.failures.Add(1)
					if err == nil {
						err = fmt.Errorf("%d %s", resp.StatusCode(), resp.Body())
					}
					l.firstErr.CompareAndSwap(nil, err)
					continue
				}
				n, _ := l.bodies.LoadOrStore(string(resp.Body()), new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		}()
	}
	return l
}

// percentile returns the p-th percentile (0–100) of the latencies so far.
func (l *load) percentile(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.latencies) == 0 {
		return 0
	}
	d := slices.Clone(l.latencies)
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p/100))]
}

func (l *load) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	if f := l.failures.Load(); f > 0 {
		t.Fatalf("%d of %d requests failed; first: %v", f, l.total.Load(), l.firstErr.Load())
	}
}

func (l *load) count(body string) int64 {
	n, ok := l.bodies.Load(body)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// TestReplicaKilledUnderLoad: two replicas of blue share the load; one is killed
// like a crashed process mid-load. No request fails (a connect that fails moves to
// the other replica before any byte is sent; a pooled connection that breaks is
// retried as before), the replica is marked down within fall × interval, and it
// takes traffic again after `rise` passing checks once it is back.
func TestReplicaKilledUnderLoad(t *testing.T) {
	b1, b2 := startKillable(t, "blue1"), startKillable(t, "blue2")
	green := startUpstream(t, "green")
	cfg := oneApp(b1.upstream, green, shortTempDir(t))
	cfg.Apps[0].Blue = []string{b1.addr, b2.addr}
	s := startProxy(t, cfg)
	h := cfg.Apps[0].Health

	l := startLoad(s, 16, "/")
	eventually(t, 5*time.Second, "both replicas serving", func() bool { return l.count("blue1") > 50 && l.count("blue2") > 50 })
	b2.kill()
	killed := time.Now()
	eventually(t, 5*time.Second, "blue2 marked down", func() bool { return !replicaStatus(s, Blue, 1).Healthy })
	if took, limit := time.Since(killed), time.Duration(h.Fall)*h.Interval+100*time.Millisecond; took > limit {
		t.Errorf("blue2 was marked down after %s, more than fall × interval (+100ms) = %s", took, limit)
	}
	time.Sleep(50 * time.Millisecond) // answers read before the kill may still be counted
	before := l.count("blue2")
	time.Sleep(300 * time.Millisecond)
	if l.count("blue2") != before {
		t.Fatal("a dead replica still answered")
	}
	b2.restart(t)
	back := time.Now()
	eventually(t, 5*time.Second, "blue2 healthy again", func() bool { return replicaStatus(s, Blue, 1).Healthy })
	if took, limit := time.Since(back), time.Duration(h.Rise+1)*h.Interval+500*time.Millisecond; took > limit {
		t.Errorf("blue2 came back after %s, more than (rise+1) × interval (+500ms) = %s", took, limit)
	}
	eventually(t, 5*time.Second, "blue2 takes traffic again", func() bool { return l.count("blue2") > before+50 })
	l.finish(t)
	t.Logf("%d requests, blue1 %d, blue2 %d, 0 failed", l.total.Load(), l.count("blue1"), l.count("blue2"))
	st := s.Status().Apps[0].Slots.Blue
	if st.Addr != b1.addr || len(st.Replicas) != 2 || st.HealthyReplicas != 2 || !st.Healthy {
		t.Fatalf("status %+v", st)
	}
}

// TestReplicasLeastInFlight: a replica busy with slow requests gets no new ones while
// an idle replica is there; idle replicas take turns.
func TestReplicasLeastInFlight(t *testing.T) {
	b1, b2, b3 := startUpstream(t, "b1"), startUpstream(t, "b2"), startUpstream(t, "b3")
	cfg := oneApp(b1, startUpstream(t, "green"), shortTempDir(t))
	cfg.Apps[0].Blue = []string{b1.addr, b2.addr, b3.addr}
	s := startProxy(t, cfg)
	c := client(s)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); _, _, _ = tryGet(c, "a", "/slow?ms=800") }()
	}
	p := s.table.Load().apps["web"].pools[Blue]
	eventually(t, 5*time.Second, "two slow requests in flight", func() bool { return p.inFlight.Load() == 2 })
	busy := map[string]bool{}
	for _, r := range s.Status().Apps[0].Slots.Blue.Replicas {
		if r.InFlight > 0 {
			busy[r.Addr] = true
		}
	}
	if len(busy) != 2 {
		t.Fatalf("two slow requests went to %d replicas, want 2 (least in flight)", len(busy))
	}
	got := map[string]int{}
	for range 6 {
		_, body, _ := get(t, c, "a", "/")
		got[body]++
	}
	if len(got) != 1 || got[nameOfIdle(busy, b1, b2, b3)] != 6 {
		t.Fatalf("fast requests went to %v while two replicas were busy", got)
	}
	wg.Wait()
	got = map[string]int{}
	for range 9 {
		_, body, _ := get(t, c, "a", "/")
		got[body]++
	}
	if got["b1"] != 3 || got["b2"] != 3 || got["b3"] != 3 {
		t.Fatalf("idle replicas did not take turns: %v", got)
	}
}

func nameOfIdle(busy map[string]bool, us ...*upstream) string {
	for _, u := range us {
		if !busy[u.addr] {
			return u.name
		}
	}
	return ""
}

// TestSwitchNeedsEveryReplica: a switch to a color with a dead replica is refused,
// naming it, unless min_healthy allows it; traffic then avoids the dead replica.
func TestSwitchNeedsEveryReplica(t *testing.T) {
	blue := startUpstream(t, "blue")
	g1 := startUpstream(t, "g1")
	dead := deadAddr(t)
	cfg := oneApp(blue, g1, shortTempDir(t))
	cfg.Apps[0].Green = []string{g1.addr, dead}
	s := startProxy(t, cfg)
	_, err := s.Switch(context.Background(), "web", Green, 500*time.Millisecond)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeUnhealthy || !strings.Contains(e.Msg, "has 1 of 2 replicas healthy, 2 needed ("+dead+": connection refused") ||
		!strings.HasSuffix(e.Msg, "traffic stays on blue") {
		t.Fatalf("switch: %v", err)
	}
	if _, err := s.SwitchWith(context.Background(), "web", Green, SwitchOptions{MinHealthy: 3}); err == nil || !strings.Contains(err.Error(), "min_healthy 3 is outside 1 to 2") {
		t.Fatalf("min_healthy 3: %v", err)
	}
	res, err := s.SwitchWith(context.Background(), "web", Green, SwitchOptions{MinHealthy: 1, Timeout: 2 * time.Second})
	if err != nil || !res.Changed {
		t.Fatalf("switch with min_healthy 1: %v %+v", err, res)
	}
	c := client(s)
	for range 20 {
		if code, body, _ := get(t, c, "a", "/"); code != 200 || body != "g1" {
			t.Fatalf("%d %q", code, body)
		}
	}
}

// TestReplicaConfigRefused: empty lists and duplicates are refused by the proxy too.
func TestReplicaConfigRefused(t *testing.T) {
	for _, tt := range []struct {
		blue, green []string
		want        string
	}{
		{nil, []string{"127.0.0.1:2"}, "needs both a blue and a green address"},
		{[]string{"127.0.0.1:1", "127.0.0.1:1"}, []string{"127.0.0.1:2"}, "lists 127.0.0.1:1 twice for blue"},
		{[]string{"127.0.0.1:1"}, []string{"127.0.0.1:2", "127.0.0.1:1"}, "same address 127.0.0.1:1 for blue and green"},
		{[]string{""}, []string{"127.0.0.1:2"}, "empty blue address"},
	} {
		_, err := New(Config{HTTPAddr: "127.0.0.1:0", Apps: []AppConfig{{Name: "web", Blue: tt.blue, Green: tt.green}}}, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v/%v: %v, want %q", tt.blue, tt.green, err, tt.want)
		}
	}
}

// TestWebSocketStaysOnItsReplica: WebSockets spread over the replicas, and each one
// keeps talking to the replica it started on while other traffic takes turns.
func TestWebSocketStaysOnItsReplica(t *testing.T) {
	b1, b2 := startUpstream(t, "b1"), startUpstream(t, "b2")
	wsEcho(b1)
	wsEcho(b2)
	cfg := oneApp(b1, startUpstream(t, "green"), shortTempDir(t))
	cfg.Apps[0].Blue = []string{b1.addr, b2.addr}
	s := startProxy(t, cfg)
	conns := make([]*websocket.Conn, 4)
	first := make([]string, 4)
	seen := map[string]bool{}
	for i := range conns {
		conns[i] = dialWS(t, s, "/ws")
		first[i], _, _ = strings.Cut(echo(t, conns[i], "hello"), ":")
		seen[first[i]] = true
	}
	if !seen["b1"] || !seen["b2"] {
		t.Fatalf("4 WebSockets went to %v; want both replicas", seen)
	}
	c := client(s)
	for round := range 20 {
		get(t, c, "a", "/")
		for i, ws := range conns {
			if got, _, _ := strings.Cut(echo(t, ws, fmt.Sprint(round)), ":"); got != first[i] {
				t.Fatalf("websocket %d moved from %s to %s", i, first[i], got)
			}
		}
	}
}
