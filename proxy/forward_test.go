package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestForwardReachesActiveColorAndKeepsHost(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	out := rawExchange(t, s.HTTPAddr(), "GET /hello?x=1 HTTP/1.1\r\nHost: Example.COM:8080\r\nConnection: close\r\n\r\n")
	if statusOf(out) != 200 || !strings.HasSuffix(out, "\r\n\r\nblue") || !strings.Contains(out, "X-Color: blue") {
		t.Fatalf("got %q, want 200 blue", out)
	}
	seen := blue.requests()
	if len(seen) != 1 || seen[0].Headers["Host"] != "Example.COM:8080" || seen[0].URI != "/hello?x=1" {
		t.Fatalf("upstream saw %+v", seen)
	}
	if green.hits.Load() != 0 {
		t.Fatal("green got traffic")
	}
}

func TestForwardingHeaders(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	c := client(s)
	genID := regexp.MustCompile(`^[0-9a-f]{12}-[0-9a-f]{12}$`)
	tests := []struct {
		name    string
		hdr     []string
		wantXFF string
		wantID  func(string) bool
	}{
		{"fresh", nil, "127.0.0.1", genID.MatchString},
		{"replaces XFF (no trusted proxies) and keeps a sane id", []string{"X-Forwarded-For", "203.0.113.7", "X-Request-ID", "abc-123_x.y:z"},
			"127.0.0.1", func(s string) bool { return s == "abc-123_x.y:z" }},
		{"replaces an insane id", []string{"X-Request-ID", "bad id <script>"}, "127.0.0.1", genID.MatchString},
		{"replaces an overlong id", []string{"X-Request-ID", strings.Repeat("a", 129)}, "127.0.0.1", genID.MatchString},
		{"overwrites spoofed proto, host and real ip", []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil", "X-Real-IP", "6.6.6.6"},
			"127.0.0.1", genID.MatchString},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			get(t, c, "site.example", "/", tc.hdr...)
			seen := blue.requests()[i]
			h := seen.Headers
			if h["X-Forwarded-For"] != tc.wantXFF {
				t.Errorf("X-Forwarded-For = %q, want %q", h["X-Forwarded-For"], tc.wantXFF)
			}
			if h["X-Real-Ip"] != "127.0.0.1" || h["X-Forwarded-Proto"] != "http" || h["X-Forwarded-Host"] != "site.example" {
				t.Errorf("forwarding headers %v", h)
			}
			if !tc.wantID(h["X-Request-Id"]) {
				t.Errorf("X-Request-Id = %q", h["X-Request-Id"])
			}
			if seen.Host != "site.example" {
				t.Errorf("Host = %q", seen.Host)
			}
		})
	}
}

func TestHopByHopHeadersRemoved(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	blue.handle = func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Connection", "X-Internal")
		ctx.Response.Header.Set("X-Internal", "secret")
		ctx.Response.Header.Set("Keep-Alive", "timeout=5")
		ctx.Response.Header.Set("Proxy-Authenticate", "Basic")
		ctx.Response.Header.Set("Upgrade", "h2c")
		ctx.Response.Header.Set("X-Kept", "yes")
		ctx.SetBodyString("ok")
	}
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	raw := "GET / HTTP/1.1\r\nHost: a.example\r\nConnection: keep-alive, X-Secret, Close\r\nX-Secret: 1\r\n" +
		"Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nProxy-Authorization: Basic x\r\n" +
		"Proxy-Connection: keep-alive\r\nProxy-Whatever: 1\r\nX-Normal: kept\r\n\r\n"
	out := rawExchange(t, s.HTTPAddr(), raw)
	if statusOf(out) != 200 {
		t.Fatalf("answer %q", out)
	}
	h := blue.requests()[0].Headers
	for _, name := range []string{"Connection", "X-Secret", "Keep-Alive", "Te", "Trailer", "Upgrade", "Proxy-Authorization", "Proxy-Connection", "Proxy-Whatever"} {
		if v, ok := h[name]; ok {
			t.Errorf("upstream saw hop-by-hop %s: %q", name, v)
		}
	}
	if h["X-Normal"] != "kept" {
		t.Errorf("X-Normal lost: %v", h)
	}
	lower := strings.ToLower(out)
	for _, bad := range []string{"x-internal", "keep-alive:", "proxy-authenticate", "upgrade:"} {
		if strings.Contains(lower, bad) {
			t.Errorf("client saw %q in %q", bad, out)
		}
	}
	if !strings.Contains(out, "X-Kept: yes") {
		t.Errorf("X-Kept lost: %q", out)
	}
	// The client asked for close; edge closes its side but keeps the upstream pool.
	if !strings.Contains(lower, "connection: close") {
		t.Errorf("client connection not closed: %q", out)
	}
}

func TestManyProxyHeadersAllRemoved(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\nHost: a\r\n")
	for i := range 40 {
		b.WriteString("Proxy-H" + strings.Repeat("x", i*3) + ": v\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	if out := rawExchange(t, s.HTTPAddr(), b.String()); statusOf(out) != 200 {
		t.Fatalf("answer %q", out)
	}
	for k := range blue.requests()[0].Headers {
		if strings.HasPrefix(k, "Proxy-") {
			t.Errorf("upstream saw %s", k)
		}
	}
}

func TestChunkedRequestBodyForwarded(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	raw := "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
	if out := rawExchange(t, s.HTTPAddr(), raw); statusOf(out) != 200 {
		t.Fatalf("answer %q", out)
	}
	seen := blue.requests()[0]
	if seen.Body != "hello world" || seen.Headers["Transfer-Encoding"] != "" || seen.Headers["Content-Length"] != "11" {
		t.Fatalf("upstream saw %+v", seen)
	}
}

func TestErrorPages(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	dead := deadAddr(t)
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Apps = append(cfg.Apps,
		AppConfig{Name: "down", Blue: []string{dead}, Green: []string{green.addr}, Health: fastHealth},
		AppConfig{Name: "slow", Blue: []string{blue.addr}, Green: []string{green.addr}, Health: fastHealth})
	cfg.Sites = []SiteConfig{{Hosts: []string{"a.example"}, Routes: []RouteConfig{
		{Path: "/down/", App: "down"}, {Path: "/slow/", App: "slow"}, {Path: "/web/", App: "web"}}}}
	cfg.Limits.UpstreamTimeout = 300 * time.Millisecond
	s := startProxy(t, cfg)
	c := client(s)
	tests := []struct {
		host, path, accept string
		status             int
		json               bool
	}{
		{"a.example", "/down/x", "text/html", 502, false},
		{"a.example", "/down/x", "application/json", 502, true},
		{"a.example", "/slow/slow?ms=1500", "", 504, false},
		{"a.example", "/slow/slow?ms=1500", "application/json", 504, true},
		{"a.example", "/nothing", "application/json", 404, true},
		{"other.example", "/web/", "*/*", 404, false},
	}
	for _, tc := range tests {
		t.Run(tc.path+" "+tc.accept, func(t *testing.T) {
			code, body, h := get(t, c, tc.host, tc.path, "Accept", tc.accept, "X-Request-ID", "req-42")
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			if string(h.Peek("X-Request-Id")) != "req-42" {
				t.Errorf("X-Request-Id %q", h.Peek("X-Request-Id"))
			}
			if tc.json {
				var v struct {
					Status    int    `json:"status"`
					RequestID string `json:"request_id"`
					Error     string `json:"error"`
				}
				if err := json.Unmarshal([]byte(body), &v); err != nil || v.Status != tc.status || v.RequestID != "req-42" {
					t.Fatalf("bad JSON page %q: %v", body, err)
				}
				if !bytes.HasPrefix(h.ContentType(), []byte("application/json")) {
					t.Errorf("content type %q", h.ContentType())
				}
			} else if !strings.Contains(body, "<h1>") || !strings.Contains(body, "req-42") {
				t.Fatalf("bad HTML page %q", body)
			}
		})
	}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestConnectFailureRetriedOnce(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s, err := New(oneApp(blue, green, shortTempDir(t)), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	sl := s.table.Load().apps["web"].pools[Blue].replicas[0]
	var attempts atomic.Int32
	// The first connect attempt fails as a refused connection would; the retry works.
	// Set before Start, so the server's goroutines see it.
	sl.dialer.Control = func(network, address string, c syscall.RawConn) error {
		if attempts.Add(1) == 1 {
			return syscall.ECONNREFUSED
		}
		return nil
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	code, body, _ := get(t, client(s), "a", "/retry")
	if code != 200 || body != "blue" {
		t.Fatalf("got %d %q", code, body)
	}
	if n := blue.hits.Load(); n != 1 {
		t.Fatalf("upstream saw %d requests, want 1", n)
	}
	if n := attempts.Load(); n != 2 {
		t.Fatalf("%d connect attempts, want 2", n)
	}
	_, _, lastErr, _ := sl.health.snapshot()
	if lastErr != "connection refused" {
		t.Fatalf("passive failure not recorded: last error %q", lastErr)
	}
}

func TestSSEIsStreamedNotBuffered(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	release := make(chan struct{})
	blue.handle = func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/event-stream")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			_, _ = w.WriteString("data: first\n\n")
			_ = w.Flush()
			select {
			case <-release:
			case <-time.After(20 * time.Second):
			}
			_, _ = w.WriteString("data: last\n\n")
		})
	}
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	conn, err := net.Dial("tcp", s.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = conn.Write([]byte("GET /events HTTP/1.1\r\nHost: a\r\nAccept: text/event-stream\r\n\r\n"))
	br := bufio.NewReader(conn)
	var got strings.Builder
	for !strings.Contains(got.String(), "data: first") {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the first event before the upstream finished: %v (got %q)", err, got.String())
		}
		got.WriteString(line)
	}
	if !strings.Contains(strings.ToLower(got.String()), "transfer-encoding: chunked") {
		t.Errorf("headers %q", got.String())
	}
	sl := s.table.Load().apps["web"].pools[Blue].replicas[0]
	if n := sl.inFlight.Load(); n != 1 {
		t.Errorf("stream in flight = %d, want 1", n)
	}
	close(release)
	for !strings.Contains(got.String(), "data: last") {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the last event: %v", err)
		}
		got.WriteString(line)
	}
	eventually(t, 5*time.Second, "the stream to leave in-flight", func() bool { return sl.inFlight.Load() == 0 })
}

func TestLargeBodyStreamsThrough(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	blue.handle = func(ctx *fasthttp.RequestCtx) { ctx.SetBody(big) }
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	code, body, h := get(t, client(s), "a", "/big")
	if code != 200 || len(body) != len(big) || h.ContentLength() != len(big) || body != string(big) {
		t.Fatalf("got %d, %d bytes, content-length %d", code, len(body), h.ContentLength())
	}
}

func TestHeadAndNoContentResponses(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	blue.handle = func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/204" {
			ctx.SetStatusCode(204)
			return
		}
		ctx.SetBodyString("twelve bytes")
	}
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	out := rawExchange(t, s.HTTPAddr(), "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 200") || !strings.Contains(out, "Content-Length: 12") || strings.Contains(out, "twelve") {
		t.Fatalf("HEAD answer %q", out)
	}
	if !strings.Contains(out, "HTTP/1.1 204") {
		t.Fatalf("204 answer %q", out)
	}
	sl := s.table.Load().apps["web"].pools[Blue].replicas[0]
	eventually(t, 5*time.Second, "no request in flight", func() bool { return sl.inFlight.Load() == 0 })
}

// TestStaleKeepAliveRetried: the upstream closes idle keep-alive connections
// quickly (as Node.js does after 5 s); a POST after such a pause must not hit the
// dead connection and fail.
func TestStaleKeepAliveRetried(t *testing.T) {
	blue := startUpstreamWith(t, "blue", func(s *fasthttp.Server) { s.IdleTimeout = 200 * time.Millisecond })
	green := startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	c := client(s)
	for i := range 4 {
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		req.SetRequestURI("http://a/post")
		req.Header.SetMethod("POST")
		req.SetBodyString("payload")
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("POST %d after an idle pause: %v %d %s", i, err, resp.StatusCode(), resp.Body())
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		time.Sleep(700 * time.Millisecond)
	}
	if n := blue.hits.Load(); n != 4 {
		t.Fatalf("upstream saw %d POSTs, want 4 (none twice, none lost)", n)
	}
}

func TestExpectContinueAnsweredByEdge(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	out := rawExchange(t, s.HTTPAddr(), "POST /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
	if !strings.HasPrefix(out, "HTTP/1.1 100 Continue") || statusOf(out) != 200 {
		t.Fatalf("answer %q", out)
	}
	seen := blue.requests()[0]
	if seen.Body != "hello" || seen.Headers["Expect"] != "" {
		t.Fatalf("upstream saw %+v", seen)
	}
}

func TestIPv6Listener(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.HTTPAddr = "[::1]:0"
	s := startProxy(t, cfg)
	if !strings.HasPrefix(s.HTTPAddr(), "[::1]:") {
		t.Fatalf("listening on %s", s.HTTPAddr())
	}
	if out := rawExchange(t, s.HTTPAddr(), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); statusOf(out) != 200 {
		t.Fatalf("answer %q", out)
	}
	h := blue.requests()[0].Headers
	if h["X-Forwarded-For"] != "::1" || h["X-Real-Ip"] != "::1" {
		t.Fatalf("forwarding headers %v", h)
	}
}
