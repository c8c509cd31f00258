package proxy

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// recMetrics records every metrics call.
type recMetrics struct {
	mu         sync.Mutex
	requests   []string
	inFlight   map[string]int
	switches   []string
	health     []string
	traffic    []string
	cuts       int
	clientCuts int
}

func (m *recMetrics) ClientCut(app, color string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.clientCuts++
}

func (m *recMetrics) TrafficState(app string, weight int, paused, maintenance bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.traffic = append(m.traffic, fmt.Sprintf("%s weight=%d paused=%v maintenance=%v", app, weight, paused, maintenance))
}

func (m *recMetrics) ResponseCut(app, color string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cuts++
}

func (m *recMetrics) RequestDone(site, app, color string, status int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests = append(m.requests, fmt.Sprintf("%s %s %s %d", site, app, color, status))
}

func (m *recMetrics) InFlight(app, color string, delta int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inFlight == nil {
		m.inFlight = map[string]int{}
	}
	m.inFlight[app+"/"+color] += delta
}

func (m *recMetrics) Switched(app, from, to string, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.switches = append(m.switches, fmt.Sprintf("%s %s->%s %v", app, from, to, ok))
}

func (m *recMetrics) HealthChanged(app, color string, healthy bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.health = append(m.health, fmt.Sprintf("%s/%s %v", app, color, healthy))
}

func TestMetricsHook(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	m := &recMetrics{}
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Metrics = m
	s := startProxy(t, cfg)
	c := client(s)
	get(t, c, "a", "/x")
	if _, err := s.Switch(context.Background(), "web", Green, 0); err != nil {
		t.Fatal(err)
	}
	get(t, c, "a", "/y")
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.requests) != 2 || m.requests[0] != "* web blue 200" || m.requests[1] != "* web green 200" {
		t.Fatalf("requests %v", m.requests)
	}
	if m.inFlight["web/blue"] != 0 || m.inFlight["web/green"] != 0 {
		t.Fatalf("in-flight not balanced: %v", m.inFlight)
	}
	if len(m.switches) != 1 || m.switches[0] != "web blue->green true" {
		t.Fatalf("switches %v", m.switches)
	}
	if len(m.health) != 2 { // first results of both colors
		t.Fatalf("health %v", m.health)
	}
}

func TestAccessLog(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.AccessLog = true
	core, logs := observer.New(zapcore.InfoLevel)
	s, err := New(cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background()) //nolint:errcheck
	get(t, client(s), "a.example", "/page?secret=token", "X-Request-ID", "log-1")
	entries := logs.FilterLoggerName("access").All()
	if len(entries) != 1 {
		t.Fatalf("%d access lines: %v", len(entries), logs.All())
	}
	f := entries[0].ContextMap()
	if f["path"] != "/page" || f["host"] != "a.example" || f["method"] != "GET" || f["status"] != int64(200) ||
		f["color"] != "blue" || f["request_id"] != "log-1" || f["bytes"] != int64(4) || f["duration"] == nil {
		t.Fatalf("access fields %v", f)
	}
	for k, v := range f {
		if s, ok := v.(string); ok && (s == "token" || strings.Contains(s, "secret")) {
			t.Fatalf("query string leaked into %s: %q", k, s)
		}
	}
}

// TestShutdownFinishesInFlight: a request in flight when shutdown starts completes,
// and the listener is closed afterwards.
func TestShutdownFinishesInFlight(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s, err := New(oneApp(blue, green, shortTempDir(t)), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	c := client(s)
	res := make(chan string, 1)
	go func() {
		code, body, err := tryGet(c, "a", "/slow?ms=800")
		res <- fmt.Sprint(code, body, err)
	}()
	sl := s.table.Load().apps["web"].pools[Blue].replicas[0]
	eventually(t, 5*time.Second, "request in flight", func() bool { return sl.inFlight.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-res; r != "200blue<nil>" {
		t.Fatalf("in-flight request got %q", r)
	}
	if _, _, err := tryGet(client(s), "a", "/"); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}
