package proxy

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestResponseHopByHopAnyNumberOfNames: an upstream whose Connection names 25 or 300
// fields gets those fields stripped and the answer through at once.
func TestResponseHopByHopAnyNumberOfNames(t *testing.T) {
	for _, n := range []int{24, 25, 300} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			u := startRawUpstream(t)
			u.respond = func(string) string {
				return "HTTP/1.1 200 OK\r\nConnection: " + manyNames(n, ",") + "\r\n" + manyFields(n+1) +
					"Keep-Alive: timeout=5\r\nUpgrade: h2c\r\nProxy-Authenticate: Basic\r\nTrailer: X-T\r\nContent-Length: 2\r\n\r\nok"
			}
			s := startProxy(t, rawApp(t, u))
			start := time.Now()
			out := rawExchange(t, s.HTTPAddr(), "GET / HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n")
			if time.Since(start) > 3*time.Second || statusOf(out) != 200 || !strings.HasSuffix(out, "\r\n\r\nok") {
				t.Fatalf("answer %q", out)
			}
			head := strings.ToLower(out)
			for i := range n {
				if strings.Contains(head, "\r\na"+strconv.Itoa(i)+":") {
					t.Fatalf("client saw a%d", i)
				}
			}
			for _, bad := range []string{"keep-alive:", "upgrade:", "proxy-authenticate:", "trailer:", "a0,"} {
				if strings.Contains(head, bad) {
					t.Errorf("client saw %q", bad)
				}
			}
			if !strings.Contains(out, "\r\nA"+strconv.Itoa(n)+": v\r\n") {
				t.Errorf("end-to-end field A%d lost: %q", n, out)
			}
		})
	}
}

// TestUpstream101ToPlainRequest: an upstream that switches protocols on a request
// that asked for no upgrade gets the client a 502, and its connection never carries
// another request.
func TestUpstream101ToPlainRequest(t *testing.T) {
	u := startRawUpstream(t)
	u.respond = func(head string) string {
		if strings.HasPrefix(head, "GET /switch ") {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	}
	s := startProxy(t, rawApp(t, u))
	c := client(s)
	if code, _, _ := get(t, c, "a.example", "/switch"); code != 502 {
		t.Fatalf("101 to a plain request: status %d, want 502", code)
	}
	for i := range 3 {
		if code, body, _ := get(t, c, "a.example", "/after"); code != 200 || body != "ok" {
			t.Fatalf("request %d after the switch: %d %q", i, code, body)
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	switched := u.connOf[0]
	for i, id := range u.connOf[1:] {
		if id == switched {
			t.Fatalf("request %d was written into the switched connection: %q", i+1, u.got[i+1])
		}
	}
}

// readResponseHead reads a response head from br and returns it.
func readResponseHead(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the head: %v (%q)", err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			return head.String()
		}
	}
}

// TestCutResponseNotCompleted: a response the upstream abandons mid-body reaches the
// client as what it is, a truncated response: a chunked one without its last chunk,
// a sized one short of its Content-Length, and then the connection closes. It is
// counted and logged as cut.
func TestCutResponseNotCompleted(t *testing.T) {
	tests := []struct {
		name, resp string
		chunked    bool
		sized      int
	}{
		{"chunked", "!CUT!HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", true, 0},
		{"chunked mid-chunk", "!CUT!HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nhello", true, 0},
		{"SSE", "!CUT!HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\nd\r\ndata: first\n\n\r\n", true, 0},
		{"sized over the buffer limit", "!CUT!HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + strings.Repeat("x", 1000), false, 200000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := startRawUpstream(t)
			u.respond = func(string) string { return tc.resp }
			m := &recMetrics{}
			cfg := rawApp(t, u)
			cfg.Metrics = m
			s := startProxy(t, cfg)
			conn, err := net.Dial("tcp", s.HTTPAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(conn, "GET /stream HTTP/1.1\r\nHost: a.example\r\n\r\n")
			br := bufio.NewReader(conn)
			head := readResponseHead(t, br)
			rest, err := io.ReadAll(br)
			if err != nil {
				t.Fatalf("the connection did not end cleanly after the cut: %v (got %q)", err, rest)
			}
			if tc.chunked {
				if !strings.Contains(strings.ToLower(head), "transfer-encoding: chunked") {
					t.Fatalf("head %q", head)
				}
				if strings.HasSuffix(string(rest), "0\r\n\r\n") {
					t.Fatalf("the client got a terminating chunk for a cut body: %q", rest)
				}
			} else if len(rest) >= tc.sized {
				t.Fatalf("the client got %d bytes of a %d-byte body cut at 1000", len(rest), tc.sized)
			}
			eventually(t, 5*time.Second, "the cut to be counted", func() bool {
				m.mu.Lock()
				defer m.mu.Unlock()
				return m.cuts == 1
			})
		})
	}
}

// TestHTTP10ClientGetsNoChunks: an HTTP/1.0 client cannot read chunked encoding; a
// chunked upstream answer reaches it as a body delimited by the connection close.
func TestHTTP10ClientGetsNoChunks(t *testing.T) {
	u := startRawUpstream(t)
	u.respond = func(string) string {
		return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
	}
	s := startProxy(t, rawApp(t, u))
	out := rawExchange(t, s.HTTPAddr(), "GET / HTTP/1.0\r\nHost: a.example\r\n\r\n")
	head, body, _ := strings.Cut(out, "\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.") || strings.Contains(strings.ToLower(head), "chunked") || body != "hello world" {
		t.Fatalf("answer to HTTP/1.0: %q", out)
	}
}

// TestHTTP10ClientCutChunkedIs502: read whole for an HTTP/1.0 client, a chunked body
// cut before its last chunk is a clean 502, not a short 200.
func TestHTTP10ClientCutChunkedIs502(t *testing.T) {
	u := startRawUpstream(t)
	u.respond = func(string) string { return "!CUT!HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n" }
	s := startProxy(t, rawApp(t, u))
	if out := rawExchange(t, s.HTTPAddr(), "GET / HTTP/1.0\r\nHost: a.example\r\n\r\n"); statusOf(out) != 502 {
		t.Fatalf("answer %q", out)
	}
}
