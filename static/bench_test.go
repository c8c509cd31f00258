package static

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

var benchSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"100KiB", 100 << 10}}

func benchSite(b *testing.B) string {
	root := b.TempDir()
	for _, s := range benchSizes {
		data := make([]byte, s.size)
		for i := range data {
			data[i] = 'a' + byte(i%26)
		}
		writeFile(b, filepath.Join(root, s.name+".bin"), data)
	}
	return root
}

// BenchmarkStaticHandler measures the handler alone: a cached GET answered into a
// reused RequestCtx, the way fasthttp reuses them per connection.
func BenchmarkStaticHandler(b *testing.B) {
	root := benchSite(b)
	h, err := newStaticFiles("/", Config{Root: root, SPA: true, Compress: true}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(fasthttp.MethodGet)
			ctx.Request.SetRequestURI("/" + s.name + ".bin")
			ctx.Request.Header.Set("Accept-Encoding", "gzip, deflate, br")
			h.serve(&ctx)
			if ctx.Response.StatusCode() != 200 || len(ctx.Response.Body()) != s.size {
				b.Fatalf("warm-up: %d, %d bytes", ctx.Response.StatusCode(), len(ctx.Response.Body()))
			}
			b.ReportAllocs()
			b.SetBytes(int64(s.size))
			b.ResetTimer()
			for b.Loop() {
				ctx.Response.Reset()
				h.serve(&ctx)
			}
		})
	}
}

// BenchmarkStaticLoopback measures whole requests over a real loopback connection
// (fasthttp client and server in this process), with keep-alive and parallel
// clients, for this handler and for fasthttp.FS on the same files.
func BenchmarkStaticLoopback(b *testing.B) {
	root := benchSite(b)
	h, err := newStaticFiles("/", Config{Root: root, SPA: true, Compress: true}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	fs := &fasthttp.FS{Root: root, IndexNames: []string{"index.html"}, AcceptByteRange: true}
	for _, srv := range []struct {
		name    string
		handler fasthttp.RequestHandler
	}{{"edge", h.serve}, {"fasthttpFS", fs.NewRequestHandler()}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		server := &fasthttp.Server{Handler: srv.handler}
		go func() { _ = server.Serve(ln) }()
		b.Cleanup(func() { _ = server.Shutdown() })
		client := &fasthttp.HostClient{Addr: ln.Addr().String(), MaxConns: 64, ReadTimeout: 30 * time.Second}
		for _, s := range benchSizes {
			b.Run(srv.name+"/"+s.name, func(b *testing.B) {
				benchLoopback(b, client, "http://"+ln.Addr().String()+"/"+s.name+".bin", s.size)
			})
		}
	}
}

func benchLoopback(b *testing.B, client *fasthttp.HostClient, uri string, size int) {
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(uri)
		for pb.Next() {
			if err := client.Do(req, resp); err != nil {
				b.Error(err)
				return
			}
			if resp.StatusCode() != 200 || len(resp.Body()) != size {
				b.Errorf("status %d, %d bytes", resp.StatusCode(), len(resp.Body()))
				return
			}
		}
	})
}

// BenchmarkFasthttpFS is the reference point: fasthttp's own file server on the same
// files, measured the same way as BenchmarkStaticHandler.
func BenchmarkFasthttpFS(b *testing.B) {
	root := benchSite(b)
	fs := &fasthttp.FS{Root: root, IndexNames: []string{"index.html"}, AcceptByteRange: true, Compress: false}
	handler := fs.NewRequestHandler()
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(fasthttp.MethodGet)
			ctx.Request.SetRequestURI("/" + s.name + ".bin")
			ctx.Request.Header.Set("Accept-Encoding", "gzip, deflate, br")
			handler(&ctx)
			b.ReportAllocs()
			b.SetBytes(int64(s.size))
			b.ResetTimer()
			for b.Loop() {
				ctx.Response.Reset()
				handler(&ctx)
			}
		})
	}
}
