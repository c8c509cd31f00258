package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edge-server/edge/internal/contentcoding"
	"github.com/valyala/fasthttp"
)

var compressText = strings.Repeat("edge compresses proxied text responses. ", 200) // 8 KB

// compressApp starts an upstream whose answer depends on the path, behind a
// proxy route with compression on.
func compressApp(t *testing.T, compress bool) (*Server, *upstream) {
	t.Helper()
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	blue.handle = func(ctx *fasthttp.RequestCtx) {
		h := &ctx.Response.Header
		ctx.SetContentType("text/html; charset=utf-8")
		h.Set("ETag", `"v1"`)
		body := compressText
		switch string(ctx.Path()) {
		case "/encoded":
			h.Set("Content-Encoding", "gzip")
			body = "not really gzip but the app says so"
		case "/partial":
			ctx.SetStatusCode(fasthttp.StatusPartialContent)
			h.Set("Content-Range", "bytes 0-8191/20000")
		case "/no-transform":
			h.Set("Cache-Control", "public, no-transform")
		case "/png":
			ctx.SetContentType("image/png")
		case "/small":
			body = "tiny"
		case "/vary":
			h.Set("Vary", "Origin")
		case "/weak":
			h.Set("ETag", `W/"v1"`)
		case "/json":
			ctx.SetContentType("application/json")
		case "/big": // over maxBufferedBody: the streamed path with a known length
			body = strings.Repeat(compressText, 40)
		}
		ctx.SetBodyString(body)
	}
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Sites[0].Routes[0].Compress = compress
	return startProxy(t, cfg), blue
}

func decodeBody(t *testing.T, enc string, body []byte) string {
	t.Helper()
	r, err := contentcoding.NewReader(enc, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding %s: %v", enc, err)
	}
	return string(out)
}

func TestCompressProxiedResponses(t *testing.T) {
	s, _ := compressApp(t, true)
	c := client(s)
	tests := []struct {
		name, path, accept string
		wantEnc            string // "" = identity
		wantVary           string
		wantETag           string
		want               string
	}{
		{"gzip", "/", "gzip", "gzip", "Accept-Encoding", `W/"v1"`, compressText},
		{"brotli", "/", "br", "br", "Accept-Encoding", `W/"v1"`, compressText},
		{"zstd", "/", "zstd", "zstd", "Accept-Encoding", `W/"v1"`, compressText},
		{"chrome's list prefers zstd", "/", "gzip, deflate, br, zstd", "zstd", "Accept-Encoding", `W/"v1"`, compressText},
		{"q-values decide", "/", "zstd;q=0.5, br;q=0.8, gzip", "gzip", "Accept-Encoding", `W/"v1"`, compressText},
		{"all refused", "/", "gzip;q=0, br;q=0, zstd;q=0", "", "Accept-Encoding", `"v1"`, compressText},
		{"no Accept-Encoding still varies", "/", "", "", "Accept-Encoding", `"v1"`, compressText},
		{"json", "/json", "gzip", "gzip", "Accept-Encoding", `W/"v1"`, compressText},
		{"existing Vary kept", "/vary", "gzip", "gzip", "Origin, Accept-Encoding", `W/"v1"`, compressText},
		{"weak ETag stays weak", "/weak", "gzip", "gzip", "Accept-Encoding", `W/"v1"`, compressText},
		{"big streamed body", "/big", "br", "br", "Accept-Encoding", `W/"v1"`, strings.Repeat(compressText, 40)},
		{"already encoded", "/encoded", "gzip", "gzip", "", `"v1"`, "not really gzip but the app says so"},
		{"range answer", "/partial", "gzip", "", "", `"v1"`, compressText},
		{"no-transform", "/no-transform", "gzip", "", "", `"v1"`, compressText},
		{"image", "/png", "gzip", "", "", `"v1"`, compressText},
		{"under the minimum size", "/small", "gzip", "", "", `"v1"`, "tiny"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://a" + tc.path)
			if tc.accept != "" {
				req.Header.Set("Accept-Encoding", tc.accept)
			}
			if err := c.Do(req, resp); err != nil {
				t.Fatal(err)
			}
			enc := string(resp.Header.ContentEncoding())
			if enc != tc.wantEnc {
				t.Fatalf("Content-Encoding %q, want %q", enc, tc.wantEnc)
			}
			if v := string(resp.Header.Peek("Vary")); v != tc.wantVary {
				t.Errorf("Vary %q, want %q", v, tc.wantVary)
			}
			if e := string(resp.Header.Peek("ETag")); e != tc.wantETag {
				t.Errorf("ETag %q, want %q", e, tc.wantETag)
			}
			body := resp.Body()
			if tc.path != "/encoded" {
				if got := decodeBody(t, enc, body); got != tc.want {
					t.Fatalf("body decodes to %d bytes, want %d", len(got), len(tc.want))
				}
			} else if string(body) != tc.want {
				t.Fatalf("an already encoded body was changed: %q", body)
			}
			if enc != "" && tc.path != "/encoded" && len(body) >= len(tc.want) {
				t.Errorf("compressed %d bytes into %d", len(tc.want), len(body))
			}
		})
	}
	sl := s.table.Load().apps["web"].pools[Blue].replicas[0]
	eventually(t, 5*time.Second, "every request to leave in-flight", func() bool { return sl.inFlight.Load() == 0 })
}

func TestCompressOffLeavesResponsesAlone(t *testing.T) {
	s, _ := compressApp(t, false)
	_, body, h := get(t, client(s), "a", "/", "Accept-Encoding", "gzip, br, zstd")
	if len(h.ContentEncoding()) != 0 || len(h.Peek("Vary")) != 0 || body != compressText {
		t.Fatalf("compress: false changed the response: encoding %q vary %q", h.ContentEncoding(), h.Peek("Vary"))
	}
}

// streamingApp answers /stream with a chunked text body whose first part is sent
// at once and the rest only after release is closed, and /events likewise as SSE.
func streamingApp(t *testing.T) (*Server, chan struct{}) {
	t.Helper()
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	release := make(chan struct{})
	blue.handle = func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/events" {
			ctx.SetContentType("text/event-stream")
		} else {
			ctx.SetContentType("text/plain")
		}
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
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Sites[0].Routes[0].Compress = true
	return startProxy(t, cfg), release
}

// TestCompressedStreamStaysLive: a chunked response compressed on the way delivers
// its first part, decodable, while the upstream is still sending.
func TestCompressedStreamStaysLive(t *testing.T) {
	for _, enc := range []string{"gzip", "br", "zstd"} {
		t.Run(enc, func(t *testing.T) {
			s, release := streamingApp(t)
			defer close(release)
			req, _ := http.NewRequest("GET", "http://"+s.HTTPAddr()+"/stream", nil)
			req.Header.Set("Accept-Encoding", enc)
			tr := &http.Transport{DisableCompression: true}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if got := resp.Header.Get("Content-Encoding"); got != enc {
				t.Fatalf("Content-Encoding %q, want %q", got, enc)
			}
			r, err := contentcoding.NewReader(enc, resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			first := make([]byte, len("data: first\n\n"))
			if _, err := io.ReadFull(r, first); err != nil || string(first) != "data: first\n\n" {
				t.Fatalf("first part before the upstream ended: %q, %v", first, err)
			}
		})
	}
}

// TestSSENotCompressedAndLive: an event stream on a compressed route is passed as
// the app sends it, and its first event arrives before the upstream ends.
func TestSSENotCompressedAndLive(t *testing.T) {
	s, release := streamingApp(t)
	defer close(release)
	req, _ := http.NewRequest("GET", "http://"+s.HTTPAddr()+"/events", nil)
	req.Header.Set("Accept-Encoding", "gzip, br, zstd")
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if enc := resp.Header.Get("Content-Encoding"); enc != "" {
		t.Fatalf("SSE was encoded with %q", enc)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event before the upstream ended: %q, %v", line, err)
	}
}

func BenchmarkCompressGzip8K(b *testing.B) { benchCompress(b, "gzip") }
func BenchmarkCompressBr8K(b *testing.B)   { benchCompress(b, "br") }
func BenchmarkCompressZstd8K(b *testing.B) { benchCompress(b, "zstd") }

// benchCompress measures compressing one 8 KB HTML body in the proxy's code path,
// without sockets: CPU per response.
func benchCompress(b *testing.B, enc string) {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.Set("Accept-Encoding", enc)
	body := []byte(compressText)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	var out int
	for b.Loop() {
		ctx.Response.Reset()
		ctx.Response.Header.SetContentType("text/html")
		ctx.Response.SetBody(body)
		compressResponse(&ctx, defaultCompressMinSize)
		out = len(ctx.Response.Body())
	}
	b.ReportMetric(float64(len(body))/float64(out), "ratio")
}

// TestCompressedBodyCutStaysCut: when the upstream dies mid-body, the compressed
// response the client gets must not look complete: no final chunk, no end of the
// coded stream. A client must see an error, never a shorter "successful" page.
func TestCompressedBodyCutStaysCut(t *testing.T) {
	part := strings.Repeat("half of a page that the app never finished. ", 100)
	for _, tc := range []struct{ name, head string }{
		{"chunked", "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strconv.FormatInt(int64(len(part)), 16) + "\r\n" + part + "\r\n"},
		{"known length, streamed", "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 400000\r\n\r\n" + part},
		{"known length, read whole", "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 20000\r\n\r\n" + part},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := startRawUpstream(t)
			u.respond = func(string) string { return "!CUT!" + tc.head }
			cfg := rawApp(t, u)
			cfg.Sites[0].Routes[0].Compress = true
			s := startProxy(t, cfg)
			raw := rawExchange(t, s.HTTPAddr(), "GET /page HTTP/1.1\r\nHost: a.example\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n")
			var resp fasthttp.Response
			err := resp.Read(bufio.NewReader(strings.NewReader(raw)))
			if err != nil {
				t.Logf("framing broken, as it should be: %v (%d bytes: %.60q)", err, len(raw), raw)
				return // the client knows it was cut
			}
			if resp.StatusCode() != 200 {
				t.Logf("answered %d", resp.StatusCode())
				return // refused before any byte of the body: 502, not a short page
			}
			body, derr := io.ReadAll(mustReader(t, string(resp.Header.ContentEncoding()), resp.Body()))
			if derr == nil && len(body) > 0 {
				t.Fatalf("a cut upstream body arrived as a complete %q response of %d bytes", resp.Header.ContentEncoding(), len(body))
			}
		})
	}
}

func mustReader(t *testing.T, enc string, b []byte) io.Reader {
	t.Helper()
	r, err := contentcoding.NewReader(enc, bytes.NewReader(b))
	if err != nil {
		return errReader{err}
	}
	return r
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
