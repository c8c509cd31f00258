package static

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// Hostile tests of the body paths: files kept in memory, files snapshotted for
// sendfile, and big files streamed from disk. Each compares served bytes with the file.

// bodySizes straddle the thresholds: in memory, snapshot for sendfile, on disk.
var bodySizes = []int{1 << 10, staticMinSendfile - 1, staticMinSendfile, 100 << 10, staticMaxMemFile, staticMaxMemFile + 1, 3<<20 + 5}

func patterned(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i/4093 + seed)
	}
	return b
}

// keepAliveClient speaks HTTP/1.1 on one raw connection, several requests per write.
type keepAliveClient struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dialKeepAlive(t *testing.T, addr string) *keepAliveClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &keepAliveClient{t: t, conn: c, br: bufio.NewReader(c)}
}

type rawReq struct {
	method, target string
	hdrs           []string
}

func (r rawReq) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: test.local\r\n", r.method, r.target)
	for _, h := range r.hdrs {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// roundTrip pipelines reqs in one write and reads one response per request.
func (k *keepAliveClient) roundTrip(reqs ...rawReq) []*fasthttp.Response {
	k.t.Helper()
	var all strings.Builder
	for _, r := range reqs {
		all.WriteString(r.String())
	}
	if _, err := io.WriteString(k.conn, all.String()); err != nil {
		k.t.Fatal(err)
	}
	out := make([]*fasthttp.Response, len(reqs))
	for i, r := range reqs {
		resp := &fasthttp.Response{}
		resp.SkipBody = r.method == fasthttp.MethodHead
		if err := resp.Read(k.br); err != nil {
			k.t.Fatalf("%s %s (request %d of %d): %v", r.method, r.target, i+1, len(reqs), err)
		}
		out[i] = resp
	}
	return out
}

// TestStaticBodiesByteExact checks every body path against the file: on a plain TCP
// connection (sendfile for snapshots and big files) and on a wrapped one, as TLS is
// (no sendfile: written from the snapshot's mapping or copied from disk).
func TestStaticBodiesByteExact(t *testing.T) {
	root := t.TempDir()
	files := map[string][]byte{}
	for i, n := range bodySizes {
		name := "/f" + strconv.Itoa(n) + ".bin"
		files[name] = patterned(n, i)
		writeFile(t, filepath.Join(root, name), files[name])
	}
	for _, wrapped := range []bool{false, true} {
		s := startStaticListener(t, "/", Config{Root: root}, nil, &fasthttp.Server{}, wrapped)
		t.Run(map[bool]string{false: "tcp", true: "wrapped"}[wrapped], func(t *testing.T) { checkBodies(t, s, files) })
		waitNoStreams(t, s.h)
	}
}

func checkBodies(t *testing.T, s *staticServer, files map[string][]byte) {
	for _, n := range bodySizes {
		name := "/f" + strconv.Itoa(n) + ".bin"
		want := files[name]
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			k := dialKeepAlive(t, s.addr)
			get := rawReq{method: "GET", target: name}
			first := k.roundTrip(get)[0]
			etag, lastMod := header(first, "ETag"), header(first, "Last-Modified")
			mid := min(n/3, n-1)
			reqs := []rawReq{
				get, get,
				{"HEAD", name, nil},
				{"GET", name, []string{"Range: bytes=0-0"}},
				{"GET", name, []string{"Range: bytes=" + strconv.Itoa(mid) + "-"}},
				{"GET", name, []string{"Range: bytes=-100"}},
				{"GET", name, []string{"Range: bytes=10-20, 30-40"}}, // multi-range: whole file
				{"GET", name, []string{"Range: bytes=" + strconv.Itoa(n) + "-"}},
				{"GET", name, []string{"If-None-Match: " + etag}},
				{"GET", name, []string{"If-Modified-Since: " + lastMod}},
				{"HEAD", name, []string{"Range: bytes=5-9"}},
				get,
			}
			rs := k.roundTrip(reqs...)
			check := func(i, status int, body []byte) {
				t.Helper()
				r := rs[i]
				if r.StatusCode() != status || !bytes.Equal(r.Body(), body) {
					t.Errorf("%s %v: status %d, %d bytes; want %d, %d bytes", reqs[i].method, reqs[i].hdrs,
						r.StatusCode(), len(r.Body()), status, len(body))
				}
			}
			check(0, 200, want)
			check(1, 200, want)
			if h := rs[2]; h.StatusCode() != 200 || h.Header.ContentLength() != n || len(h.Body()) != 0 {
				t.Errorf("HEAD: %d, length %d, %d body bytes", h.StatusCode(), h.Header.ContentLength(), len(h.Body()))
			}
			check(3, 206, want[:1])
			check(4, 206, want[mid:])
			check(5, 206, want[max(0, n-100):])
			check(6, 200, want)
			check(7, 416, []byte("Range Not Satisfiable"))
			check(8, 304, nil)
			check(9, 304, nil)
			if h := rs[10]; h.StatusCode() != 206 || h.Header.ContentLength() != 5 || len(h.Body()) != 0 {
				t.Errorf("HEAD with range: %d, length %d", h.StatusCode(), h.Header.ContentLength())
			}
			check(11, 200, want)
			if got := header(rs[4], "Content-Range"); got != fmt.Sprintf("bytes %d-%d/%d", mid, n-1, n) {
				t.Errorf("Content-Range %q", got)
			}
		})
	}
}

// waitNoStreams fails unless every file descriptor lent to a response came back.
func waitNoStreams(t *testing.T, h *staticHandler) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		busy := 0
		h.cache.mu.RLock()
		for _, e := range h.cache.entries {
			for _, r := range e.reps {
				if r != nil && r.file != nil {
					r.file.mu.Lock()
					busy += r.file.inUse
					r.file.mu.Unlock()
				}
			}
		}
		h.cache.mu.RUnlock()
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d file streams still in use", busy)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client that asks for far more than the socket buffers hold and stops reading must be
// cut by the server's write deadline: connection closed, nothing left in use.
func TestStaticStalledReaderIsCut(t *testing.T) {
	for _, n := range []int{100 << 10, 3 << 20} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			root := t.TempDir()
			writeFile(t, filepath.Join(root, "f.bin"), patterned(n, 1))
			srv := &fasthttp.Server{WriteTimeout: 300 * time.Millisecond}
			s := startStaticServer(t, "/", Config{Root: root}, nil, srv)
			c := dialSmallWindow(t, s.addr)
			reqs := strings.Repeat(rawReq{method: "GET", target: "/f.bin"}.String(), (64<<20)/n+1)
			go func() { _, _ = io.WriteString(c, reqs) }()
			start := time.Now()
			// Read nothing until the server must have given up, then drain: the stream ends.
			time.Sleep(1500 * time.Millisecond)
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			got, err := io.Copy(io.Discard, c)
			if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
				t.Fatalf("after %v: draining: %v (read %d bytes)", time.Since(start), err, got)
			}
			if got >= int64(len(reqs)/len("GET /f.bin"))*int64(n) {
				t.Fatalf("the stalled client got everything (%d bytes): no deadline cut it", got)
			}
			waitOpenConns(t, srv, 0)
			waitNoStreams(t, s.h)
		})
	}
}

// dialSmallWindow connects with a 4 KiB receive buffer set before the handshake, so the
// window the server sees is small from the start.
func dialSmallWindow(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn)
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset by peer") || strings.Contains(err.Error(), "broken pipe"))
}

func waitOpenConns(t *testing.T, srv *fasthttp.Server, want int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.GetOpenConnectionsCount() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want %d", srv.GetOpenConnectionsCount(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client that resets the connection mid-body leaves nothing behind, and the next
// client gets the whole file.
func TestStaticClientGoneMidBody(t *testing.T) {
	for _, n := range []int{100 << 10, 3 << 20} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			root := t.TempDir()
			want := patterned(n, 2)
			writeFile(t, filepath.Join(root, "f.bin"), want)
			srv := &fasthttp.Server{WriteTimeout: 10 * time.Second}
			s := startStaticServer(t, "/", Config{Root: root}, nil, srv)
			for range 20 {
				c := dialSmallWindow(t, s.addr)
				_, _ = io.WriteString(c, strings.Repeat(rawReq{method: "GET", target: "/f.bin"}.String(), 50))
				buf := make([]byte, 3000)
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadFull(c, buf); err != nil {
					t.Fatal(err)
				}
				_ = c.SetLinger(0) // RST, as a client killed mid-download
				_ = c.Close()
			}
			waitOpenConns(t, srv, 0)
			waitNoStreams(t, s.h)
			k := dialKeepAlive(t, s.addr)
			if r := k.roundTrip(rawReq{method: "GET", target: "/f.bin"})[0]; r.StatusCode() != 200 || !bytes.Equal(r.Body(), want) {
				t.Fatalf("after the resets: %d, %d bytes", r.StatusCode(), len(r.Body()))
			}
		})
	}
}

// While files are replaced, truncated and rewritten on disk, every 200 carries one
// state the file really had (a whole version, or, while a version is being written in
// place, the prefix written so far), never bytes of two versions, and anything else is
// a cut connection.
//
// One exception is pinned rather than hidden: a file bigger than staticMaxMemFile is
// sent from the disk's page cache with sendfile, and when it is truncated in place
// while in flight, the kernel zeroes the tail of the page holding the new end of file
// under the pages already queued on the socket (nginx's sendfile has the same race).
// Such a body is the old version with zeros from the new end of file on; files up to
// staticMaxMemFile are served from a sealed snapshot and never show it.
func TestStaticFileChangedWhileServed(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int
		write    func(t *testing.T, p string, b []byte)
		prefixes bool // each version is a prefix of the first
		zeroTail bool // the truncation race of sendfile from disk is accepted
	}{
		{"snapshot, replaced", 100 << 10, replaceFile, false, false},
		{"snapshot, rewritten in place", 100 << 10, rewriteInPlace, false, false},
		{"snapshot, truncated", 100 << 10, truncateInPlace, true, false},
		{"on disk, replaced", 3 << 20, replaceFile, false, false},
		{"on disk, truncated", 3 << 20, truncateInPlace, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			p := filepath.Join(root, "f.bin")
			versions := [][]byte{patterned(tc.size, 0)}
			for i := 1; i < 6; i++ {
				v := patterned(tc.size-i*1000, i)
				if tc.prefixes {
					v = versions[0][:tc.size-i*1000]
				}
				versions = append(versions, v)
			}
			accept := func(b []byte) bool {
				for _, v := range versions {
					if bytes.Equal(b, v) || (len(b) < len(v) && bytes.HasPrefix(v, b)) {
						return true
					}
				}
				if shortest := len(versions[len(versions)-1]); tc.zeroTail && len(b) > shortest && len(b) <= tc.size {
					return bytes.Equal(b[:shortest], versions[0][:shortest]) && allZeroOrSame(b[shortest:], versions[0][shortest:])
				}
				return false
			}
			writeFile(t, p, versions[0])
			s := startStatic(t, "/", Config{Root: root}, func(h *staticHandler) { h.ttl = int64(time.Millisecond) })
			var stop atomic.Bool
			var served, cut atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := &fasthttp.Client{ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
					req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
					defer fasthttp.ReleaseRequest(req)
					defer fasthttp.ReleaseResponse(resp)
					req.SetRequestURI("http://" + s.addr + "/f.bin")
					for !stop.Load() {
						if err := c.Do(req, resp); err != nil {
							cut.Add(1)
							continue
						}
						if resp.StatusCode() != 200 {
							errs <- fmt.Errorf("status %d", resp.StatusCode())
							return
						}
						if !accept(resp.Body()) {
							b := resp.Body()
							i := 0
							for i < len(b) && i < len(versions[0]) && b[i] == versions[0][i] {
								i++
							}
							errs <- fmt.Errorf("200 with %d bytes matching no version of the file (differs from the first at %d: % x)", len(b), i, b[i:min(i+16, len(b))])
							return
						}
						served.Add(1)
					}
				}()
			}
			for i := 1; i < len(versions); i++ {
				time.Sleep(50 * time.Millisecond)
				tc.write(t, p, versions[i])
			}
			time.Sleep(100 * time.Millisecond)
			stop.Store(true)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			t.Logf("%d whole responses, %d cut", served.Load(), cut.Load())
			waitNoStreams(t, s.h)
		})
	}
}

// allZeroOrSame: each byte of b is zero or equals the byte of want at its index.
func allZeroOrSame(b, want []byte) bool {
	for i := range b {
		if b[i] != 0 && b[i] != want[i] {
			return false
		}
	}
	return true
}

// rewriteInPlace truncates and rewrites the same inode (as cp does), slowly.
func rewriteInPlace(t *testing.T, p string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for off := 0; off < len(b); off += 8192 {
		if _, err := f.Write(b[off:min(off+8192, len(b))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

// truncateInPlace cuts the served inode to a shorter length of the current content.
func truncateInPlace(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.Truncate(p, int64(len(b))); err != nil {
		t.Fatal(err)
	}
}
