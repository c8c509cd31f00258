package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// benchConn stands in for the client connection when the handler is driven
// directly: it has a TCP remote address and accepts deadlines.
type benchConn struct{ net.Conn }

var benchRemote = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 40000}

func (benchConn) RemoteAddr() net.Addr             { return benchRemote }
func (benchConn) LocalAddr() net.Addr              { return benchRemote }
func (benchConn) SetWriteDeadline(time.Time) error { return nil }
func (benchConn) SetReadDeadline(time.Time) error  { return nil }
func (benchConn) SetDeadline(time.Time) error      { return nil }
func (benchConn) Write(p []byte) (int, error)      { return len(p), nil }
func (benchConn) Read(p []byte) (int, error)       { return 0, io.EOF }
func (benchConn) Close() error                     { return nil }
func (c benchConn) String() string                 { return "bench" }
func newBenchProxy(b *testing.B) (*Server, *upstream) {
	blue, green := startUpstream(b, "blue"), startUpstream(b, "green")
	blue.quiet.Store(true)
	cfg := oneApp(blue, green, shortTempDir(b))
	cfg.AdminSocket = ""
	cfg.Apps[0].Health.Interval = time.Hour
	return startProxy(b, cfg), blue
}

// BenchmarkForwardHandler drives the proxy's request handler directly (no client
// socket) against a real upstream on loopback: routing, header rewriting, the
// upstream round trip over a pooled keep-alive connection and streaming the body
// out. allocs/op includes the upstream server's, which is in the same process.
func BenchmarkForwardHandler(b *testing.B) {
	s, _ := newBenchProxy(b)
	var ctx fasthttp.RequestCtx
	ctx.Init2(benchConn{}, quietLogger{}, false)
	var src benchRequest
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ctx.Response.Reset()
		src.readInto(b, &ctx.Request, benchRaw)
		s.handleHTTP(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
		if _, err := ctx.Response.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// bench100K and bench1M are the bodies quiet upstreams send for /bench/100k and
// /bench/1m.
var (
	bench100K = bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16)
	bench1M   = bytes.Repeat([]byte("0123456789abcdef"), 1<<20/16)
)

// BenchmarkForwardLoopback is the whole path over loopback sockets: a keep-alive
// client, edge, and the upstream, all in this process, run in parallel; a small
// (5-byte), a 100 KiB (read whole) and a 1 MiB (streamed) response body.
func BenchmarkForwardLoopback(b *testing.B) {
	s, _ := newBenchProxy(b)
	c := &fasthttp.HostClient{Addr: s.HTTPAddr(), MaxConns: 64}
	for _, bc := range []struct{ name, uri string }{
		{"small", "http://app.example/api/items?page=2"},
		{"100KiB", "http://app.example/bench/100k"},
		{"1MiB", "http://app.example/bench/1m"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := fasthttp.AcquireRequest()
				resp := fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				req.SetRequestURI(bc.uri)
				for pb.Next() {
					if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
						b.Fatalf("%v %d", err, resp.StatusCode())
					}
				}
			})
		})
	}
}

// benchRaw is a typical browser-ish request, parsed afresh each iteration as the
// server would: edge builds the upstream request from the raw header section.
var benchRaw = []byte("GET /api/items?page=2 HTTP/1.1\r\nHost: app.example\r\nUser-Agent: bench\r\nAccept: */*\r\n" +
	"Accept-Language: en\r\nX-Forwarded-For: 203.0.113.1\r\nCookie: session=abc\r\n\r\n")

// benchRequest parses a raw request into a reused fasthttp.Request without allocating.
type benchRequest struct {
	r  bytes.Reader
	br *bufio.Reader
}

func (s *benchRequest) readInto(b *testing.B, req *fasthttp.Request, raw []byte) {
	s.r.Reset(raw)
	if s.br == nil {
		s.br = bufio.NewReader(&s.r)
	}
	s.br.Reset(&s.r)
	req.Reset()
	if err := req.Read(s.br); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPrepareRequest measures the header work done for every proxied request:
// admission checks and building the upstream request.
func BenchmarkPrepareRequest(b *testing.B) {
	var ctx fasthttp.RequestCtx
	ctx.Init2(benchConn{}, quietLogger{}, false)
	var src benchRequest
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		src.readInto(b, &ctx.Request, benchRaw)
		t, no := admit(&ctx.Request.Header)
		if no != nil {
			b.Fatal(no.why)
		}
		rid := requestID(&ctx.Request.Header)
		out, _ = appendUpstreamRequest(out[:0], &ctx, t, rid, false)
	}
}

// BenchmarkRoute measures host and path matching.
func BenchmarkRoute(b *testing.B) {
	t := routerTable(b)
	host, path := []byte("Shop.Example.com:443"), []byte("/api/admin/users")
	b.ReportAllocs()
	for b.Loop() {
		if s := t.site(host); s == nil || s.match(path) == nil {
			b.Fatal("no route")
		}
	}
}

// BenchmarkForwardCanary is BenchmarkForwardHandler with a 10% canary running and
// two replicas per color: each request hashes its visitor (the client address here,
// as it sends no cookie), gets the Set-Cookie edge adds, and picks a replica.
func BenchmarkForwardCanary(b *testing.B) {
	blue, blue2, green := startUpstream(b, "blue"), startUpstream(b, "blue2"), startUpstream(b, "green")
	for _, u := range []*upstream{blue, blue2, green} {
		u.quiet.Store(true)
	}
	cfg := oneApp(blue, green, shortTempDir(b))
	cfg.AdminSocket = ""
	cfg.Apps[0].Blue = []string{blue.addr, blue2.addr}
	cfg.Apps[0].Health.Interval = time.Hour
	s := startProxy(b, cfg)
	if _, err := s.SwitchWith(b.Context(), "web", Green, SwitchOptions{Weight: 10}); err != nil {
		b.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init2(benchConn{}, quietLogger{}, false)
	var src benchRequest
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ctx.Response.Reset()
		src.readInto(b, &ctx.Request, benchRaw)
		s.handleHTTP(&ctx)
		if ctx.Response.StatusCode() != 200 || len(ctx.Response.Header.PeekCookie(VisitorCookie)) == 0 {
			b.Fatalf("status %d, cookie %q", ctx.Response.StatusCode(), ctx.Response.Header.PeekCookie(VisitorCookie))
		}
		if _, err := ctx.Response.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
