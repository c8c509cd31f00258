package proxy

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// timeoutsApp is scriptedApp with the client timeouts given.
func timeoutsApp(t *testing.T, u *scriptedUpstream, read, idle time.Duration) Config {
	cfg := scriptedApp(t, u)
	cfg.Limits.ReadTimeout, cfg.Limits.IdleTimeout = read, idle
	return cfg
}

// okUpstream answers every request with "ok" after delay.
func okUpstream(t *testing.T, delay time.Duration) *scriptedUpstream {
	return startScriptedUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			time.Sleep(delay)
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	})
}

// closedWithin waits for the proxy to close c and says how long that took.
func closedWithin(t *testing.T, c net.Conn, br *bufio.Reader, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	b, err := br.ReadByte()
	if err == nil {
		t.Fatalf("read %q from an idle connection", b)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("not closed within %s", limit)
	}
	return time.Since(start)
}

// TestIdleKeepAliveClosed: a kept connection with no next request is closed after
// idle_timeout (between 1 and 9/8 of it, plus scheduling), not before.
func TestIdleKeepAliveClosed(t *testing.T) {
	s := startProxy(t, timeoutsApp(t, okUpstream(t, 0), 5*time.Second, 400*time.Millisecond))
	c, br := dialKeepAlive(t, s.HTTPAddr())
	if st, body := keepAliveGet(t, c, br, "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"); st != 200 || body != "ok" {
		t.Fatalf("request: %d %q", st, body)
	}
	if d := closedWithin(t, c, br, 3*time.Second); d < 350*time.Millisecond || d > 1500*time.Millisecond {
		t.Fatalf("idle connection closed after %s, want about 400ms", d)
	}
}

// TestSlowKeepAliveRequestIs408: on a kept connection, read_timeout counts from the
// first byte of the next request, not from the end of the last answer: a request that
// trickles in stalls out with 408, although the idle timeout is far away.
func TestSlowKeepAliveRequestIs408(t *testing.T) {
	s := startProxy(t, timeoutsApp(t, okUpstream(t, 0), 400*time.Millisecond, 30*time.Second))
	c, br := dialKeepAlive(t, s.HTTPAddr())
	if st, _ := keepAliveGet(t, c, br, "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"); st != 200 {
		t.Fatalf("first request: %d", st)
	}
	time.Sleep(600 * time.Millisecond) // idle longer than read_timeout: that is fine
	start := time.Now()
	if _, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a.exa"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	out, _ := io.ReadAll(br)
	d := time.Since(start)
	if !strings.HasPrefix(string(out), "HTTP/1.1 408 ") {
		t.Fatalf("a stalled request got %q", out)
	}
	if d < 350*time.Millisecond || d > 1500*time.Millisecond {
		t.Fatalf("408 after %s, want about 400ms", d)
	}
}

// TestSlowAnswerNotCutByReadTimeout: read_timeout bounds reading the request only; an
// upstream that takes longer than it to answer is waited for (upstream_timeout bounds
// that), and the connection is kept.
func TestSlowAnswerNotCutByReadTimeout(t *testing.T) {
	s := startProxy(t, timeoutsApp(t, okUpstream(t, 700*time.Millisecond), 200*time.Millisecond, 30*time.Second))
	c, br := dialKeepAlive(t, s.HTTPAddr())
	for i := range 2 {
		if st, body := keepAliveGet(t, c, br, "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"); st != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, st, body)
		}
	}
}
