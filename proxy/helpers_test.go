package proxy

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/edge-server/edge/internal/wait"
)

// upstream is a real fasthttp server on 127.0.0.1:0 playing an app's color.
type upstream struct {
	name   string
	addr   string
	ln     net.Listener
	srv    *fasthttp.Server
	health atomic.Int32 // status of GET /health
	hits   atomic.Int64 // requests other than /health
	mu     sync.Mutex
	seen   []seenRequest
	handle fasthttp.RequestHandler // optional override for non-health paths
	quiet  atomic.Bool             // do not record requests (benchmarks)
}

// seenRequest is what the upstream received, copied out of the ctx.
type seenRequest struct {
	Method, URI, Host string
	Headers           map[string]string
	Body              string
}

func startUpstream(t testing.TB, name string) *upstream {
	t.Helper()
	return startUpstreamWith(t, name, nil)
}

// startUpstreamWith lets the caller adjust the server before it starts serving.
func startUpstreamWith(t testing.TB, name string, tweak func(*fasthttp.Server)) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{name: name, ln: ln, addr: ln.Addr().String()}
	u.health.Store(200)
	u.srv = &fasthttp.Server{Handler: u.serve, Logger: quietLogger{}, ReadTimeout: 30 * time.Second}
	if tweak != nil {
		tweak(u.srv)
	}
	go u.srv.Serve(ln) //nolint:errcheck
	t.Cleanup(u.stop)
	return u
}

func (u *upstream) stop() {
	_ = u.srv.Shutdown()
	_ = u.ln.Close()
}

func (u *upstream) serve(ctx *fasthttp.RequestCtx) {
	if string(ctx.Path()) == "/health" {
		ctx.SetStatusCode(int(u.health.Load()))
		ctx.SetBodyString(u.name + " health\n")
		return
	}
	u.hits.Add(1)
	if u.quiet.Load() {
		ctx.SetContentType("text/plain")
		switch string(ctx.Path()) {
		case "/bench/100k":
			ctx.Response.SetBodyRaw(bench100K)
			return
		case "/bench/1m":
			ctx.Response.SetBodyRaw(bench1M)
			return
		}
		ctx.SetBodyString(u.name)
		return
	}
	sr := seenRequest{Method: string(ctx.Method()), URI: string(ctx.RequestURI()), Host: string(ctx.Host()),
		Headers: map[string]string{}, Body: string(ctx.PostBody())}
	for k, v := range ctx.Request.Header.All() {
		sr.Headers[string(k)] = string(v)
	}
	u.mu.Lock()
	u.seen = append(u.seen, sr)
	u.mu.Unlock()
	ctx.Response.Header.Set("X-Color", u.name)
	if u.handle != nil {
		u.handle(ctx)
		return
	}
	if strings.HasSuffix(string(ctx.Path()), "/slow") {
		ms, _ := strconv.Atoi(string(ctx.QueryArgs().Peek("ms")))
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	ctx.SetContentType("text/plain")
	ctx.SetBodyString(u.name)
}

func (u *upstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// shortTempDir returns a directory with a short path: unix socket paths are limited
// to about 100 bytes and t.TempDir() can be longer.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "edge")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// fastHealth makes health checks quick for tests.
var fastHealth = HealthConfig{Path: "/health", Interval: 50 * time.Millisecond, Timeout: time.Second, Rise: 2, Fall: 2}

// oneApp is a config with app "web" (blue, green) routed at / for host "*".
func oneApp(blue, green *upstream, dir string) Config {
	return Config{
		HTTPAddr:    "127.0.0.1:0",
		Apps:        []AppConfig{{Name: "web", Blue: []string{blue.addr}, Green: []string{green.addr}, Health: fastHealth, Drain: 5 * time.Second}},
		Sites:       []SiteConfig{{Hosts: []string{"*"}, Routes: []RouteConfig{{Path: "/", App: "web"}}}},
		StateFile:   filepath.Join(dir, "state.json"),
		AdminSocket: filepath.Join(dir, "admin.sock"),
	}
}

// startProxy builds and starts a Server and stops it at cleanup.
func startProxy(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

func testLogger(t testing.TB) *zap.Logger {
	if os.Getenv("EDGE_TEST_LOG") != "" {
		return zaptest.NewLogger(t)
	}
	return zap.NewNop()
}

// client returns a keep-alive client to the proxy's HTTP listener.
func client(s *Server) *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: s.HTTPAddr(), MaxConns: 256, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
}

// get does one GET through the proxy with the given Host header.
func get(t testing.TB, c *fasthttp.HostClient, host, path string, hdr ...string) (int, string, *fasthttp.ResponseHeader) {
	t.Helper()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	scheme := "http://"
	if c.IsTLS {
		scheme = "https://"
	}
	req.SetRequestURI(scheme + host + path)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
		if hdr[i] == "Host" {
			req.UseHostHeader = true
		}
	}
	if err := c.Do(req, resp); err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	h := &fasthttp.ResponseHeader{}
	resp.Header.CopyTo(h)
	return resp.StatusCode(), string(resp.Body()), h
}

// tryGet is get for goroutines other than the test's: it returns errors.
func tryGet(c *fasthttp.HostClient, host, path string) (int, string, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + host + path)
	if err := c.Do(req, resp); err != nil {
		return 0, "", err
	}
	return resp.StatusCode(), string(resp.Body()), nil
}

// rawExchange writes raw bytes to the proxy and returns everything it answers
// until it closes the connection (or 5 s pass).
func rawExchange(t testing.TB, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return string(out)
		}
	}
}

// statusOf parses the status code of the first response in raw.
func statusOf(raw string) int {
	r := bufio.NewReader(strings.NewReader(raw))
	var resp fasthttp.Response
	if err := resp.Read(r); err != nil {
		return 0
	}
	return resp.StatusCode()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, d, what, cond)
}
