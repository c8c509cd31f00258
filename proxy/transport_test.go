package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scriptedUpstream runs serve on every connection it accepts (n counts from 0), on a
// real loopback socket, so a test decides byte by byte what edge reads.
type scriptedUpstream struct {
	addr  string
	conns atomic.Int32
}

func startScriptedUpstream(t *testing.T, serve func(n int, c net.Conn, br *bufio.Reader)) *scriptedUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &scriptedUpstream{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				if isHealthCheck(br) {
					serveHealth(c, br)
					return
				}
				serve(int(u.conns.Add(1)-1), c, br)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return u
}

// isHealthCheck peeks at a connection's first request line.
func isHealthCheck(br *bufio.Reader) bool {
	b, err := br.Peek(len("GET /health "))
	return err == nil && string(b) == "GET /health "
}

func serveHealth(c net.Conn, br *bufio.Reader) {
	for {
		if _, err := readRequest(br); err != nil {
			return
		}
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
	}
}

// readRequest reads one request head and its Content-Length body.
func readRequest(br *bufio.Reader) (string, error) {
	var head strings.Builder
	cl := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return head.String(), err
		}
		head.WriteString(line)
		if name, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "content-length") {
			cl, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if line == "\r\n" {
			break
		}
	}
	if _, err := io.CopyN(io.Discard, br, int64(cl)); err != nil {
		return head.String(), err
	}
	return head.String(), nil
}

// scriptedApp routes a.example to u (blue); green is an upstream no request reaches.
func scriptedApp(t *testing.T, u *scriptedUpstream) Config {
	return rawApp(t, &rawUpstream{addr: u.addr})
}

// dialKeepAlive opens a client connection to addr, closed at cleanup.
func dialKeepAlive(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// keepAliveGet sends one request on c and reads one response (Content-Length bodies).
func keepAliveGet(t *testing.T, c net.Conn, br *bufio.Reader, raw string) (status int, body string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	head := readResponseHead(t, br)
	cl := 0
	for _, l := range strings.Split(head, "\r\n") {
		if name, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(name, "content-length") {
			cl, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	b := make([]byte, cl)
	if _, err := io.ReadFull(br, b); err != nil {
		t.Fatalf("body: %v", err)
	}
	return headStatus([]byte(head)), string(b)
}

// TestUpstreamHeadOverLimit: a response head bigger than max_header_bytes is a 502,
// promptly; the connection is dropped and the next request works.
func TestUpstreamHeadOverLimit(t *testing.T) {
	u := startScriptedUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
			if n == 0 {
				resp = "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 20<<10) + "\r\nContent-Length: 2\r\n\r\nok"
			}
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	})
	s := startProxy(t, scriptedApp(t, u))
	start := time.Now()
	if out := rawExchange(t, s.HTTPAddr(), "GET /big HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"); statusOf(out) != 502 {
		t.Fatalf("a 20 KiB head: %q", out)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("answered after %s", d)
	}
	if out := rawExchange(t, s.HTTPAddr(), "GET /next HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"); statusOf(out) != 200 || !strings.HasSuffix(out, "ok") {
		t.Fatalf("next request: %q", out)
	}
}

// TestUpstreamHeadInTinyWrites: a head (and a chunked body) arriving one byte per TCP
// segment is read whole and intact, and the connection stays in the pool.
func TestUpstreamHeadInTinyWrites(t *testing.T) {
	resp := "HTTP/1.1 200 OK\r\nX-One: 1\r\nConnection: x-hop\r\nX-Hop: gone\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
	u := startScriptedUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			for i := range len(resp) {
				if _, err := c.Write([]byte{resp[i]}); err != nil {
					return
				}
				time.Sleep(200 * time.Microsecond)
			}
		}
	})
	s := startProxy(t, scriptedApp(t, u))
	for i := range 3 {
		out := rawExchange(t, s.HTTPAddr(), "GET /tiny HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n")
		head, body, _ := strings.Cut(out, "\r\n\r\n")
		if statusOf(out) != 200 || !strings.Contains(head, "\r\nX-One: 1\r\n") || strings.Contains(head, "X-Hop") ||
			strings.Contains(out, "X-Trailer") {
			t.Fatalf("request %d: %q", i, out)
		}
		if got, err := io.ReadAll(httputil.NewChunkedReader(strings.NewReader(body))); err != nil || string(got) != "hello world" {
			t.Fatalf("request %d body %q: %q %v", i, body, got, err)
		}
	}
	if n := u.conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections for 3 sequential requests, want 1 (pooled)", n)
	}
}

// TestUpstreamStallsMidHead: an upstream that sends half a head and goes quiet gets
// the client a 504 within the upstream timeout.
func TestUpstreamStallsMidHead(t *testing.T) {
	u := startScriptedUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Half: ")
		_, _ = io.Copy(io.Discard, br) // until edge gives up
	})
	cfg := scriptedApp(t, u)
	cfg.Limits.UpstreamTimeout = 500 * time.Millisecond
	s := startProxy(t, cfg)
	start := time.Now()
	out := rawExchange(t, s.HTTPAddr(), "GET /stall HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n")
	d := time.Since(start)
	if statusOf(out) != 504 || strings.Contains(out, "X-Half") {
		t.Fatalf("stalled head: %q", out)
	}
	if d < 400*time.Millisecond || d > 2*time.Second {
		t.Fatalf("504 after %s, want about the 500ms upstream timeout", d)
	}
}

// TestDeadPooledConnection: the upstream reads a request on a kept connection and
// closes it without an answer (its idle timeout raced the request). A GET is sent
// again on a new connection; a POST is not (it may have had its effect): 502.
func TestDeadPooledConnection(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			var mu sync.Mutex
			var seen []string
			u := startScriptedUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
				for i := 0; ; i++ {
					head, err := readRequest(br)
					if err != nil {
						return
					}
					mu.Lock()
					seen = append(seen, strconv.Itoa(n)+" "+strings.SplitN(head, "\r\n", 2)[0])
					mu.Unlock()
					if n == 0 && i == 1 {
						return // read, then closed without an answer
					}
					if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
						return
					}
				}
			})
			s := startProxy(t, scriptedApp(t, u))
			c, br := dialKeepAlive(t, s.HTTPAddr())
			if st, _ := keepAliveGet(t, c, br, "GET /first HTTP/1.1\r\nHost: a.example\r\n\r\n"); st != 200 {
				t.Fatalf("first request: %d", st)
			}
			req := method + " /second HTTP/1.1\r\nHost: a.example\r\nContent-Length: 1\r\n\r\nx"
			st, body := keepAliveGet(t, c, br, req)
			mu.Lock()
			defer mu.Unlock()
			var second []string
			for _, l := range seen {
				if strings.Contains(l, "/second") {
					second = append(second, l)
				}
			}
			switch {
			case method == "GET" && (st != 200 || body != "ok" || len(second) != 2 || second[1][0] != '1'):
				t.Fatalf("GET on a dead pooled connection: %d %q, upstream saw %q", st, body, seen)
			case method == "POST" && (st != 502 || len(second) != 1):
				t.Fatalf("POST on a dead pooled connection: %d %q, upstream saw %q (a POST is never sent twice)", st, body, seen)
			}
		})
	}
}

// TestAnswerBeforeRequestSent: an upstream that refuses a big upload from its head
// (413) and closes without reading the body gets its answer to the client, not a
// 502, and edge does not hang on the unsent rest of the body.
func TestAnswerBeforeRequestSent(t *testing.T) {
	u := startScriptedUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		_, _ = io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big\n")
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		time.Sleep(50 * time.Millisecond)
	})
	s := startProxy(t, scriptedApp(t, u))
	body := strings.Repeat("u", 8<<20)
	c, err := net.Dial("tcp", s.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		_, _ = io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: a.example\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	}()
	start := time.Now()
	br := bufio.NewReader(c)
	head := readResponseHead(t, br)
	if st := headStatus([]byte(head)); st != 413 {
		t.Fatalf("answer %q, want the upstream's 413", head)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("answered after %s", d)
	}
}

// TestInterimResponsesDropped: 1xx answers before the final one (103 Early Hints,
// 100 Continue) are read and dropped; the final answer and the next request on the
// same upstream connection are intact.
func TestInterimResponsesDropped(t *testing.T) {
	u := startScriptedUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			if _, err := io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"+
				"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"); err != nil {
				return
			}
		}
	})
	s := startProxy(t, scriptedApp(t, u))
	c, br := dialKeepAlive(t, s.HTTPAddr())
	for i := range 3 {
		if st, body := keepAliveGet(t, c, br, "GET /hints HTTP/1.1\r\nHost: a.example\r\n\r\n"); st != 200 || body != "final" {
			t.Fatalf("request %d: %d %q", i, st, body)
		}
	}
	if n := u.conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections, want 1", n)
	}
}

// TestMaxConnsPerUpstreamQueues: with max_conns_per_upstream 1, concurrent requests
// wait for the one connection instead of failing, and all get their answer.
func TestMaxConnsPerUpstreamQueues(t *testing.T) {
	var busy, most atomic.Int32
	u := startScriptedUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			b := busy.Add(1)
			for m := most.Load(); b > m && !most.CompareAndSwap(m, b); m = most.Load() {
			}
			time.Sleep(20 * time.Millisecond)
			busy.Add(-1)
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	})
	cfg := scriptedApp(t, u)
	cfg.Limits.MaxConnsPerUpstream = 1
	s := startProxy(t, cfg)
	c := client(s)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, body, err := tryGet(c, "a.example", "/q"); err != nil || st != 200 || body != "ok" {
				errs <- strconv.Itoa(st) + " " + body
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("a queued request got %s", e)
	}
	if n, m := u.conns.Load(), most.Load(); n != 1 || m != 1 {
		t.Fatalf("%d upstream connections, %d requests at once; want 1 and 1", n, m)
	}
}
