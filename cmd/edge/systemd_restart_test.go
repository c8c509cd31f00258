package main

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestRestartUnderLoadDropsNothing is `systemctl restart edge` with edge.socket: the test
// holds the listening socket (as systemd does) and passes it to successive edge
// processes. Each restart is SIGTERM, wait for the old process to exit, start the next
// one; connections arriving in between wait in the kernel's queue. Under constant load
// no request may fail, and a slow request in flight at SIGTERM must complete.
func TestRestartUnderLoadDropsNothing(t *testing.T) {
	const loadWorkers = 8 // half keep-alive, half a new connection per request
	blue := startUpstream(t, "blue", 1500*time.Millisecond)
	green := startUpstream(t, "green", 0)
	addr, f := heldListener(t)
	dir := t.TempDir()
	cfg := writeEdgeConfig(t, dir, addr, fmt.Sprintf(`apps:
  web:
    blue: %s
    green: %s
    health: { path: /health, interval: 500ms, timeout: 400ms, rise: 1, fall: 3 }
    drain: 10s
sites:
  - hosts: [edge.test]
    routes:
      - { path: /, app: web }
`, blue.addr, green.addr))

	p := startEdge(t, cfg, []*os.File{f}, "http")
	p.waitReady(t)
	waitForBody(t, addr, "edge.test", "blue", 60*time.Second)

	l := startLoad(addr, "edge.test", "blue", loadWorkers)
	defer func() {
		if l != nil {
			l.finish()
		}
	}()
	l.waitOK(t, 100, 60*time.Second)

	const restarts = 3
	for i := 0; i < restarts; i++ {
		slow := make(chan string, 1)
		go func() {
			code, body, err := get(&http.Client{Timeout: 60 * time.Second}, addr, "edge.test", "/slow")
			slow <- fmt.Sprintf("%d %s %v", code, body, err)
		}()
		select {
		case <-blue.slowStart:
		case <-time.After(60 * time.Second):
			t.Fatal("the slow request never reached the upstream")
		}
		p.stop(t) // SIGTERM with the slow request in flight
		if !p.sent("STOPPING=1") {
			t.Errorf("restart %d: edge did not send STOPPING=1", i+1)
		}
		if got := <-slow; got != "200 blue-slow <nil>" {
			t.Errorf("restart %d: request in flight at SIGTERM ended with %s", i+1, got)
		}
		p = startEdge(t, cfg, []*os.File{f}, "http")
		p.waitReady(t)
		l.waitOK(t, 100, 60*time.Second)
	}
	ok, fail, retried, errs := l.finish()
	l = nil
	t.Logf("%d restarts under load: %d requests ok, %d failed, %d retried once on a closed keep-alive connection", restarts, ok, fail, retried)
	if fail != 0 {
		t.Errorf("%d requests failed across restarts; first ones: %v", fail, errs)
	}
	// Each keep-alive worker's connection is closed at most once per restart.
	if keepAliveWorkers := loadWorkers / 2; retried > keepAliveWorkers*restarts {
		t.Errorf("%d retries on closed keep-alive connections; at most %d expected (one per keep-alive worker and restart)", retried, keepAliveWorkers*restarts)
	}
	p.stop(t)
}
