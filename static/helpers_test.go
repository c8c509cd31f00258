package static

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap/zaptest"
)

// testSite copies testdata/static-site into a fresh temp dir and adds what git cannot
// hold or what must be generated: precompressed siblings, dotfiles, a file outside
// the root, symlinks in and out of the root, a FIFO. It returns the site root.
func testSite(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "site")
	copyTree(t, "testdata/static-site", root)

	js := readFile(t, filepath.Join(root, "assets/index-3f2a9c1b.js"))
	writeFile(t, filepath.Join(root, "assets/index-3f2a9c1b.js.gz"), gzipBytes(t, js))
	writeFile(t, filepath.Join(root, "assets/index-3f2a9c1b.js.br"), fasthttp.AppendBrotliBytesLevel(nil, js, 11))
	css := readFile(t, filepath.Join(root, "assets/style-BRcx7a2Q.css"))
	writeFile(t, filepath.Join(root, "assets/style-BRcx7a2Q.css.gz"), gzipBytes(t, css))
	// A text file big enough for on-the-fly compression, without siblings.
	writeFile(t, filepath.Join(root, "big.txt"), bytes.Repeat([]byte("compress me on the fly, please. "), 400))

	writeFile(t, filepath.Join(root, ".env"), []byte("DOTENV-SECRET\n"))
	writeFile(t, filepath.Join(root, ".git/config"), []byte("GIT-SECRET\n"))
	writeFile(t, filepath.Join(root, "assets/.hidden.js"), []byte("HIDDEN-SECRET\n"))
	writeFile(t, filepath.Join(base, "outside/secret.txt"), []byte("OUTSIDE-SECRET\n"))
	writeFile(t, filepath.Join(base, "outside/index.html"), []byte("OUTSIDE-SECRET index\n"))

	symlink(t, "../outside/secret.txt", filepath.Join(root, "leak.txt"))
	symlink(t, "../outside", filepath.Join(root, "leakdir"))
	symlink(t, filepath.Join(base, "outside/secret.txt"), filepath.Join(root, "abs-leak.txt"))
	symlink(t, "/etc/passwd", filepath.Join(root, "passwd"))
	symlink(t, ".git", filepath.Join(root, "public"))
	symlink(t, ".env", filepath.Join(root, "env.txt"))
	symlink(t, "assets/index-3f2a9c1b.js", filepath.Join(root, "inside-link.js"))
	symlink(t, "docs", filepath.Join(root, "docs-link"))
	symlink(t, "loop-b", filepath.Join(root, "loop-a"))
	symlink(t, "loop-a", filepath.Join(root, "loop-b"))
	if err := syscall.Mkfifo(filepath.Join(root, "fifo.txt"), 0o644); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	return root
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copying test site: %v", err)
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes p atomically (temp file + rename), as deploy tools do.
func replaceFile(t *testing.T, p string, b []byte) {
	t.Helper()
	tmp := p + ".tmp-replace"
	writeFile(t, tmp, b)
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type staticServer struct {
	addr string
	h    *staticHandler
}

// startStatic serves one static route on a real loopback listener.
func startStatic(t *testing.T, prefix string, cfg Config, tweak func(*staticHandler)) *staticServer {
	t.Helper()
	return startStaticServer(t, prefix, cfg, tweak, &fasthttp.Server{})
}

// startStaticServer is startStatic with a caller-configured fasthttp.Server.
func startStaticServer(t *testing.T, prefix string, cfg Config, tweak func(*staticHandler), srv *fasthttp.Server) *staticServer {
	t.Helper()
	return startStaticListener(t, prefix, cfg, tweak, srv, false)
}

// startStaticListener is startStaticServer; with wrapConns the handler sees connections
// that are not *net.TCPConn (as behind TLS), so no body can go out with sendfile.
func startStaticListener(t *testing.T, prefix string, cfg Config, tweak func(*staticHandler), srv *fasthttp.Server, wrapConns bool) *staticServer {
	t.Helper()
	h, err := newStaticFiles(prefix, cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("newStaticFiles: %v", err)
	}
	if tweak != nil {
		tweak(h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if wrapConns {
		ln = wrappingListener{ln}
	}
	srv.Handler, srv.Logger = h.serve, staticTestLogger{t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	return &staticServer{addr: ln.Addr().String(), h: h}
}

type wrappingListener struct{ net.Listener }

func (l wrappingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrappedConn{c}, nil
}

type wrappedConn struct{ net.Conn }

type staticTestLogger struct{ t *testing.T }

func (l staticTestLogger) Printf(format string, args ...any) { l.t.Logf("fasthttp: "+format, args...) }

// do sends one raw HTTP/1.1 request (the request target is written verbatim) and
// reads the response. headers are "Name: value" strings.
func (s *staticServer) do(t *testing.T, method, target string, headers ...string) *fasthttp.Response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: test.local\r\n", method, target)
	for _, h := range headers {
		req.WriteString(h + "\r\n")
	}
	req.WriteString("Connection: close\r\n\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		t.Fatal(err)
	}
	resp := &fasthttp.Response{}
	resp.SkipBody = method == fasthttp.MethodHead
	if err := resp.Read(bufio.NewReader(conn)); err != nil {
		t.Fatalf("%s %q: reading response: %v", method, target, err)
	}
	return resp
}

func (s *staticServer) get(t *testing.T, target string, headers ...string) *fasthttp.Response {
	t.Helper()
	return s.do(t, fasthttp.MethodGet, target, headers...)
}

func header(r *fasthttp.Response, name string) string { return string(r.Header.Peek(name)) }
