package proxy

import (
	"bufio"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawUpstream is an upstream on a real socket that records the exact bytes of every
// request it receives (head and body), and answers with what respond returns. It
// speaks just enough HTTP/1.1 to find where a request ends: Content-Length bodies.
type rawUpstream struct {
	addr    string
	ln      net.Listener
	mu      sync.Mutex
	got     []string
	connOf  []int                    // which connection (in accept order) each request came on
	respond func(head string) string // nil: a 2-byte 200; a "!CUT!" prefix closes the connection after writing
	nconns  int
	conns   sync.WaitGroup
	open    []net.Conn
}

func startRawUpstream(t testing.TB) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln, addr: ln.Addr().String()}
	go u.accept()
	t.Cleanup(func() {
		ln.Close()
		u.mu.Lock()
		for _, c := range u.open {
			c.Close()
		}
		u.mu.Unlock()
		u.conns.Wait()
	})
	return u
}

func (u *rawUpstream) accept() {
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.mu.Lock()
		u.open = append(u.open, c)
		id := u.nconns
		u.nconns++
		u.mu.Unlock()
		u.conns.Add(1)
		go func() {
			defer u.conns.Done()
			defer c.Close()
			u.serveConn(c, id)
		}()
	}
}

func (u *rawUpstream) serveConn(c net.Conn, id int) {
	br := bufio.NewReader(c)
	for {
		var head strings.Builder
		cl := 0
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if name, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "content-length") {
				cl, _ = strconv.Atoi(strings.TrimSpace(v))
			}
			if line == "\r\n" || line == "\n" {
				break
			}
		}
		body := make([]byte, cl)
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		h := head.String()
		if !strings.HasPrefix(h, "GET /health ") {
			u.mu.Lock()
			u.got = append(u.got, h+string(body))
			u.connOf = append(u.connOf, id)
			u.mu.Unlock()
		}
		resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
		if u.respond != nil && !strings.HasPrefix(h, "GET /health ") {
			resp = u.respond(h)
		}
		cut := strings.HasPrefix(resp, "!CUT!")
		resp = strings.TrimPrefix(resp, "!CUT!")
		if _, err := io.WriteString(c, resp); err != nil {
			return
		}
		if cut || strings.Contains(resp, "\r\nConnection: close\r\n") {
			return
		}
	}
}

// requests returns what the upstream received since the n-th request.
func (u *rawUpstream) since(n int) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.got[n:]...)
}

func (u *rawUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.got)
}

// rawApp is a config with app "web" on the raw upstream (both colors), routed at "/"
// and "/static/" for site a.example.
// Green is a second raw upstream that no request reaches.
func rawApp(t testing.TB, u *rawUpstream) Config {
	dir := shortTempDir(t)
	green := startRawUpstream(t)
	return Config{
		HTTPAddr: "127.0.0.1:0",
		Apps:     []AppConfig{{Name: "web", Blue: []string{u.addr}, Green: []string{green.addr}, Health: fastHealth, Drain: time.Second}},
		Sites: []SiteConfig{{Hosts: []string{"a.example"}, Routes: []RouteConfig{
			{Path: "/", App: "web"}, {Path: "/static/", App: "web"}}}},
		StateFile: filepath.Join(dir, "state.json"),
	}
}

// forwardedHead splits what the upstream saw into its request line and the set of
// header lines; edge's generated request id is replaced by "*".
func forwardedHead(raw string) (line string, headers map[string]bool, body string) {
	head, body, _ := strings.Cut(raw, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	headers = map[string]bool{}
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "X-Request-Id: ") && !strings.HasPrefix(l, "X-Request-Id: client-") {
			l = "X-Request-Id: *"
		}
		headers[l] = true
	}
	return lines[0], headers, body
}

// std is what edge adds to every request from 127.0.0.1 on the plain listener for
// host a.example; extra lines are the client's end-to-end fields that must survive.
func std(extra ...string) []string {
	return append([]string{"Host: a.example", "X-Forwarded-For: 127.0.0.1", "X-Real-Ip: 127.0.0.1",
		"X-Forwarded-Proto: http", "X-Forwarded-Host: a.example", "X-Request-Id: *"}, extra...)
}

func manyNames(n int, sep string) string {
	names := make([]string, n)
	for i := range names {
		names[i] = "a" + strconv.Itoa(i)
	}
	return strings.Join(names, sep)
}

func manyFields(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("A" + strconv.Itoa(i) + ": v\r\n")
	}
	return b.String()
}

// TestForwardingTable sends raw requests to edge and checks, for each, the exact
// request line and header set the upstream received, or the status the client got
// and that the upstream saw nothing.
func TestForwardingTable(t *testing.T) {
	u := startRawUpstream(t)
	s := startProxy(t, rawApp(t, u))
	const h = "Host: a.example\r\n"
	const end = "Connection: close\r\n\r\n"
	tests := []struct {
		name    string
		raw     string
		status  int      // what the client gets
		line    string   // "" = the upstream must see nothing
		headers []string // exact header set the upstream sees
		body    string
	}{
		{"plain GET", "GET /x?y=1 HTTP/1.1\r\n" + h + "Accept: */*\r\n" + end, 200,
			"GET /x?y=1 HTTP/1.1", std("Accept: */*"), ""},
		{"end-to-end fields kept as sent", "POST /j HTTP/1.1\r\n" + h + "Cookie: session=abc; theme=dark\r\nUser-Agent: probe/1\r\n" +
			"Content-Type: application/json\r\nAuthorization: Bearer t\r\nContent-Length: 2\r\n" + end + "{}", 200,
			"POST /j HTTP/1.1", std("Cookie: session=abc; theme=dark", "User-Agent: probe/1", "Content-Type: application/json",
				"Authorization: Bearer t", "Content-Length: 2"), "{}"},
		// Item 1: Connection names, any number of them.
		{"24 Connection names", "GET / HTTP/1.1\r\n" + h + "Connection: " + manyNames(24, ",") + "\r\n" +
			"A0: x\r\nA23: x\r\nA24: kept\r\nKeep-Alive: 5\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n" + end, 200,
			"GET / HTTP/1.1", std("A24: kept"), ""},
		{"25 Connection names", "GET / HTTP/1.1\r\n" + h + "Connection: " + manyNames(25, ", ") + "\r\n" + manyFields(26) + end, 200,
			"GET / HTTP/1.1", std("A25: v"), ""},
		{"400 names over three Connection lines", "GET / HTTP/1.1\r\n" + h + "Connection: " + manyNames(200, ",") +
			"\r\nConnection: keep-alive\r\nConnection: " + strings.ReplaceAll(manyNames(400, ","), "a0,", "") + "\r\n" + manyFields(401) + end, 200,
			"GET / HTTP/1.1", std("A400: v"), ""},
		{"h2c upgrade stripped", "GET / HTTP/1.1\r\n" + h + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" +
			"HTTP2-Settings: AAMAAABkAAQAAP__\r\n" + end, 200, "GET / HTTP/1.1", std(), ""},
		{"h2c upgrade not listed in Connection", "GET / HTTP/1.1\r\n" + h + "Upgrade: h2c\r\nHTTP2-Settings: AAMA\r\n" + end, 200,
			"GET / HTTP/1.1", std(), ""},
		{"hop-by-hop family", "GET / HTTP/1.1\r\n" + h + "Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\n" +
			"TE: trailers\r\nTrailer: X-T\r\nProxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\nX-Normal: kept\r\n" + end, 200,
			"GET / HTTP/1.1", std("X-Normal: kept"), ""},
		// Item 2: trailers are dropped, never merged.
		{"request trailers dropped", "POST /up HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nTrailer: X-User\r\n" + end +
			"5\r\nhello\r\n0\r\nX-User: admin\r\nX-Request-ID: forged\r\n\r\n", 200,
			"POST /up HTTP/1.1", std("Content-Length: 5"), "hello"},
		// Item 3: edge's forwarding headers replace every client copy.
		{"two X-Forwarded-For", "GET / HTTP/1.1\r\n" + h + "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 6.6.6.6\r\n" + end, 200,
			"GET / HTTP/1.1", std(), ""},
		{"spoofed forwarding family", "GET / HTTP/1.1\r\n" + h + "X-Real-IP: 6.6.6.6\r\nX-Real-IP: 7.7.7.7\r\nX-Forwarded-Proto: https\r\n" +
			"X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Host: evil2\r\nForwarded: for=6.6.6.6\r\n" +
			"X-Forwarded-Prefix: /admin\r\nX-Forwarded-Port: 443\r\n" + end, 200, "GET / HTTP/1.1", std(), ""},
		{"client request id kept once", "GET / HTTP/1.1\r\n" + h + "X-Request-ID: client-1\r\nX-Request-ID: client-2\r\n" + end, 200,
			"GET / HTTP/1.1", append(std()[:5], "X-Request-Id: client-1"), ""},
		{"underscore names dropped", "GET / HTTP/1.1\r\n" + h + "X_Real_IP: 6.6.6.6\r\nX-Ok: 1\r\n" + end, 200,
			"GET / HTTP/1.1", std("X-Ok: 1"), ""},
		// Item 4: absolute-form targets.
		{"absolute-form target wins over Host", "GET http://a.example/x?q=1 HTTP/1.1\r\nHost: evil.example\r\n" + end, 200,
			"GET /x?q=1 HTTP/1.1", std(), ""},
		{"absolute-form with port and no path", "GET http://A.example:80 HTTP/1.1\r\nHost: evil.example\r\n" + end, 200,
			"GET / HTTP/1.1", []string{"Host: A.example:80", "X-Forwarded-For: 127.0.0.1", "X-Real-Ip: 127.0.0.1",
				"X-Forwarded-Proto: http", "X-Forwarded-Host: A.example:80", "X-Request-Id: *"}, ""},
		{"https target on the plain listener", "GET https://a.example/x HTTP/1.1\r\n" + h + end, 200,
			"GET /x HTTP/1.1", std(), ""},
		{"absolute-form to an unknown host", "GET http://other.example/x HTTP/1.1\r\n" + h + end, 404, "", nil, ""},
		{"userinfo in target", "GET http://user:pw@a.example/x HTTP/1.1\r\n" + h + end, 400, "", nil, ""},
		{"userinfo in Host", "GET /x HTTP/1.1\r\nHost: admin:secret@a.example\r\n" + end, 400, "", nil, ""},
		{"ftp target", "GET ftp://a.example/x HTTP/1.1\r\n" + h + end, 400, "", nil, ""},
		{"asterisk target", "OPTIONS * HTTP/1.1\r\n" + h + end, 400, "", nil, ""},
		{"fragment in target", "GET /x#frag HTTP/1.1\r\n" + h + end, 400, "", nil, ""},
		// Item 5: edge speaks HTTP/1.1 upstream, whatever the client's 1.x.
		{"HTTP/1.0 client", "GET /old HTTP/1.0\r\n" + h + "\r\n", 200, "GET /old HTTP/1.1", std(), ""},
		{"HTTP/1.0 without Host", "GET /old HTTP/1.0\r\n\r\n", 404, "", nil, ""},
		{"HTTP/1.2 served as 1.1", "GET /x HTTP/1.2\r\n" + h + end, 200, "GET /x HTTP/1.1", std(), ""},
		{"HTTP/2.0 on HTTP/1", "GET /x HTTP/2.0\r\n" + h + end, 505, "", nil, ""},
		{"HTTP/3.0", "GET /x HTTP/3.0\r\n" + h + end, 505, "", nil, ""},
		{"no Host on HTTP/1.1", "GET /x HTTP/1.1\r\n" + end, 400, "", nil, ""},
		{"two Host fields", "GET /x HTTP/1.1\r\n" + h + "Host: b.example\r\n" + end, 400, "", nil, ""},
		// Methods edge cannot proxy.
		{"CONNECT", "CONNECT a.example:443 HTTP/1.1\r\n" + h + end, 405, "", nil, ""},
		{"TRACE", "TRACE / HTTP/1.1\r\n" + h + end, 405, "", nil, ""},
		{"extension method passes", "PROPFIND /dav HTTP/1.1\r\n" + h + end, 200, "PROPFIND /dav HTTP/1.1", std("Content-Length: 0"), ""},
		// Slash redirect for a prefix route.
		{"route prefix without slash", "GET /static?v=2 HTTP/1.1\r\n" + h + end, 301, "", nil, ""},
		// Smuggling and framing, refused before routing.
		{"CL and TE", "POST / HTTP/1.1\r\n" + h + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n" + end + "0\r\n\r\n", 400, "", nil, ""},
		{"TE and CL", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n" + end + "0\r\n\r\n", 400, "", nil, ""},
		{"two equal CL", "POST / HTTP/1.1\r\n" + h + "Content-Length: 1\r\nContent-Length: 1\r\n" + end + "x", 400, "", nil, ""},
		{"CL list", "POST / HTTP/1.1\r\n" + h + "Content-Length: 1, 1\r\n" + end + "x", 400, "", nil, ""},
		{"CL with space before colon", "POST / HTTP/1.1\r\n" + h + "Content-Length : 1\r\n" + end + "x", 400, "", nil, ""},
		{"TE xchunked", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: xchunked\r\n" + end + "0\r\n\r\n", 400, "", nil, ""},
		{"TE chunked twice", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked, chunked\r\n" + end + "0\r\n\r\n", 400, "", nil, ""},
		{"TE on HTTP/1.0", "POST / HTTP/1.0\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "", nil, ""},
		{"obs-fold", "GET / HTTP/1.1\r\n" + h + "X-A: 1\r\n  folded\r\n" + end, 400, "", nil, ""},
		{"bare CR in a value", "GET / HTTP/1.1\r\n" + h + "X-A: 1\r2\r\n" + end, 400, "", nil, ""},
		{"NUL in a value", "GET / HTTP/1.1\r\n" + h + "X-A: 1\x002\r\n" + end, 400, "", nil, ""},
		// fasthttp accepts LF-terminated lines as long as the section ends in CRLF CRLF
		// (a section ending in LF LF is the known gap in docs/proxy.md).
		{"bare LF line endings", "GET /lf HTTP/1.1\n" + "Host: a.example\nX-A: 1\nConnection: close\r\n\r\n", 200,
			"GET /lf HTTP/1.1", std("X-A: 1"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := u.count()
			start := time.Now()
			out := rawExchange(t, s.HTTPAddr(), tc.raw)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("answered after %s", d)
			}
			if got := statusOf(out); got != tc.status {
				t.Fatalf("status %d, want %d: %q", got, tc.status, out)
			}
			seen := u.since(before)
			if tc.line == "" {
				if len(seen) != 0 {
					t.Fatalf("upstream saw %q", seen)
				}
				return
			}
			if len(seen) != 1 {
				t.Fatalf("upstream saw %d requests: %q", len(seen), seen)
			}
			line, hdrs, body := forwardedHead(seen[0])
			if line != tc.line {
				t.Errorf("request line %q, want %q", line, tc.line)
			}
			want := map[string]bool{}
			for _, l := range tc.headers {
				want[l] = true
			}
			for l := range hdrs {
				if !want[l] {
					t.Errorf("upstream saw unexpected %q", l)
				}
			}
			for l := range want {
				if !hdrs[l] {
					t.Errorf("upstream did not see %q (saw %q)", l, seen[0])
				}
			}
			if body != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
		})
	}
}

// TestBareLFHeaderEndIsBounded: fasthttp v1.74 only ends a header section at CRLF CRLF,
// so a section ending in LF LF waits for more bytes. The read timeout bounds the wait
// and the client gets a 408; the upstream sees nothing (docs/proxy.md, known gap).
func TestBareLFHeaderEndIsBounded(t *testing.T) {
	u := startRawUpstream(t)
	cfg := rawApp(t, u)
	cfg.Limits.ReadTimeout = 500 * time.Millisecond
	s := startProxy(t, cfg)
	start := time.Now()
	out := rawExchange(t, s.HTTPAddr(), "GET /lf HTTP/1.1\nHost: a.example\n\n")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("answered after %s", d)
	}
	if st := statusOf(out); st != 408 {
		t.Fatalf("answer %q", out)
	}
	if n := u.count(); n != 0 {
		t.Fatalf("upstream saw %d requests", n)
	}
}
