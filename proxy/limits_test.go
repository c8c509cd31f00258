package proxy

import (
	"strings"
	"testing"
)

// TestBadInputNeverReachesUpstream sends hostile and malformed requests. Each gets
// the right status, and the upstream sees none of them.
func TestBadInputNeverReachesUpstream(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Limits.MaxHeaderBytes = 4096
	cfg.Limits.MaxBodyBytes = 1024
	s := startProxy(t, cfg)
	big := strings.Repeat("x", 5000)
	body2k := strings.Repeat("b", 2048)
	tests := []struct {
		name   string
		raw    string
		status int
	}{
		{"oversize header", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + big + "\r\n\r\n", 431},
		{"oversize request line", "GET /" + big + " HTTP/1.1\r\nHost: a\r\n\r\n", 431},
		{"oversize body by content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2048\r\n\r\n" + body2k, 413},
		{"oversize chunked body", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + body2k + "\r\n0\r\n\r\n", 413},
		{"content-length and transfer-encoding", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400},
		{"transfer-encoding then content-length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400},
		{"identity transfer-encoding with content-length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello", 400},
		{"two different content-lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400},
		{"two equal content-lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400},
		{"content-length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", 400},
		{"negative content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
		{"two transfer-encodings", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"transfer-encoding on HTTP/1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"malformed request line", "GARBAGE\r\n\r\n", 400},
		{"no HTTP version", "GET /\r\nHost: a\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
		{"control character in header value", "GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01b\r\n\r\n", 400},
		{"broken chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400},
		{"two host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := rawExchange(t, s.HTTPAddr(), tc.raw)
			if got := statusOf(out); got != tc.status {
				t.Fatalf("status %d, want %d; answer %q", got, tc.status, out)
			}
			if !strings.Contains(strings.ToLower(out), "connection: close") {
				t.Errorf("connection kept open after a refused request: %q", out)
			}
		})
	}
	if n := blue.hits.Load() + green.hits.Load(); n != 0 {
		t.Fatalf("upstreams saw %d bad requests: %+v", n, blue.requests())
	}
	// A good request on a fresh connection still works.
	if out := rawExchange(t, s.HTTPAddr(), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); statusOf(out) != 200 {
		t.Fatalf("good request after bad ones: %q", out)
	}
}

// TestSmugglingAttemptOnKeepAlive checks that a request hidden in a conflicting body
// is not served as a second request.
func TestSmugglingAttemptOnKeepAlive(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	raw := "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
	out := rawExchange(t, s.HTTPAddr(), raw)
	if statusOf(out) != 400 || strings.Count(out, "HTTP/1.1 ") != 1 {
		t.Fatalf("answer %q", out)
	}
	if n := blue.hits.Load(); n != 0 {
		t.Fatalf("upstream saw %d requests", n)
	}
}
