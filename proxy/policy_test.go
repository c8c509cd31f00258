package proxy

import (
	"encoding/base64"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
)

// fileMount stands in for the static file server: it answers like one.
type fileMount struct{}

func (fileMount) NewHandler(string, *zap.Logger) (fasthttp.RequestHandler, error) {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "no-cache")
		ctx.SetContentType("text/html; charset=utf-8")
		ctx.SetBodyString("<p>static</p>")
	}, nil
}

// fromAddr is a client whose connections come from the given loopback source address.
func fromAddr(s *Server, src string) *fasthttp.HostClient {
	c := client(s)
	c.Dial = func(addr string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		return d.Dial("tcp", addr)
	}
	return c
}

func TestResponseHeaderRules(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	blue.handle = func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Server", "gunicorn")
		ctx.Response.Header.Set("X-Powered-By", "Next.js")
		ctx.Response.Header.Set("X-Frame-Options", "SAMEORIGIN")
		ctx.SetBodyString("app")
	}
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Apps = append(cfg.Apps, AppConfig{Name: "dead", Blue: []string{deadAddr(t)}, Green: []string{deadAddr(t)}, Health: fastHealth})
	cfg.Sites[0].Headers = HeaderRules{
		Set:    map[string]string{"X-Frame-Options": "DENY", "Strict-Transport-Security": "max-age=63072000"},
		Add:    map[string]string{"Link": "</style.css>; rel=preload"},
		Remove: []string{"Server", "X-Powered-By"},
	}
	cfg.Sites[0].Routes = []RouteConfig{
		{Path: "/api/", App: "web", Headers: HeaderRules{Set: map[string]string{"X-Frame-Options": "SAMEORIGIN", "Cache-Control": "no-store"}}},
		{Path: "/down/", App: "dead"},
		{Path: "/static/", Static: fileMount{}},
		{Path: "/old/", Redirect: &RedirectConfig{To: "/new/"}},
	}
	s := startProxy(t, cfg)
	c := client(s)
	tests := []struct {
		name, path  string
		status      int
		xfo, server string
		cc          string
	}{
		{"proxied, route overrides site", "/api/x", 200, "SAMEORIGIN", "", "no-store"},
		{"edge's 404", "/nothing", 404, "DENY", "", "no-store"},
		{"edge's 502", "/down/x", 502, "DENY", "", "no-store"},
		{"static", "/static/index.html", 200, "DENY", "", "no-cache"},
		{"redirect", "/old/x", 308, "DENY", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, _, h := get(t, c, "a", tc.path)
			if st != tc.status {
				t.Fatalf("status %d, want %d", st, tc.status)
			}
			if got := string(h.Peek("X-Frame-Options")); got != tc.xfo {
				t.Errorf("X-Frame-Options %q, want %q", got, tc.xfo)
			}
			if got := string(h.Peek("Server")) + string(h.Peek("X-Powered-By")); got != tc.server {
				t.Errorf("Server/X-Powered-By %q survived", got)
			}
			if got := string(h.Peek("Strict-Transport-Security")); got != "max-age=63072000" {
				t.Errorf("HSTS %q", got)
			}
			if got := string(h.Peek("Link")); got != "</style.css>; rel=preload" {
				t.Errorf("Link %q", got)
			}
			if tc.cc != "" && string(h.Peek("Cache-Control")) != tc.cc {
				t.Errorf("Cache-Control %q, want %q", h.Peek("Cache-Control"), tc.cc)
			}
		})
	}
}

func TestHeaderRuleChecks(t *testing.T) {
	tests := []struct {
		name    string
		rules   HeaderRules
		wantErr string
	}{
		{"fine", HeaderRules{Set: map[string]string{"X-Frame-Options": "DENY"}, Remove: []string{"Server"}}, ""},
		{"space in name", HeaderRules{Set: map[string]string{"X Frame": "DENY"}}, "not allowed in a header name"},
		{"colon in name", HeaderRules{Add: map[string]string{"X-A:B": "1"}}, "not allowed in a header name"},
		{"CRLF in value", HeaderRules{Set: map[string]string{"X-A": "1\r\nSet-Cookie: x=1"}}, "control character"},
		{"framing header", HeaderRules{Set: map[string]string{"Content-Length": "5"}}, "frames the message"},
		{"remove Transfer-Encoding", HeaderRules{Remove: []string{"transfer-encoding"}}, "frames the message"},
		{"empty name", HeaderRules{Remove: []string{""}}, "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckHeaderRules(tc.rules)
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Sites = []SiteConfig{
		{Hosts: []string{"example.com"}, Routes: []RouteConfig{
			{Path: "/", App: "web"},
			{Path: "/old/", Redirect: &RedirectConfig{To: "/new/"}},
			{Path: "/gone/", Redirect: &RedirectConfig{To: "/", Code: 301}},
			{Path: "/docs", Redirect: &RedirectConfig{To: "https://docs.example.org/start", Code: 302}},
		}},
		{Hosts: []string{"www.example.com"}, Redirect: "https://example.com"},
		{Hosts: []string{"old.example.com"}, Redirect: "https://example.com/legacy/", RedirectCode: 301},
	}
	s := startProxy(t, cfg)
	tests := []struct {
		name, host, target string
		status             int
		location           string
	}{
		{"www to apex keeps path and query", "www.example.com", "/a/b?x=1&y=2", 308, "https://example.com/a/b?x=1&y=2"},
		{"www root", "www.example.com", "/", 308, "https://example.com/"},
		{"site redirect into a prefix, 301", "old.example.com", "/p?q", 301, "https://example.com/legacy/p?q"},
		{"route prefix", "example.com", "/old/a/b?x=1", 308, "/new/a/b?x=1"},
		{"route exact prefix", "example.com", "/old/", 308, "/new/"},
		{"route to an absolute URL", "example.com", "/docs?v=2", 302, "https://docs.example.org/start?v=2"},
		{"no protocol-relative escape", "example.com", "/gone//evil.com/x", 301, "/evil.com/x"},
		{"no protocol-relative escape on the site", "www.example.com", "//evil.com/", 308, "https://example.com/evil.com/"},
		{"encoded CRLF stays encoded", "example.com", "/old/%0d%0aSet-Cookie:%20a=1", 308, "/new/%0D%0ASet-Cookie:%20a=1"},
		{"absolute-form target", "www.example.com", "http://www.example.com/p?q=1", 308, "https://example.com/p?q=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := rawExchange(t, s.HTTPAddr(), "GET "+tc.target+" HTTP/1.1\r\nHost: "+tc.host+"\r\nConnection: close\r\n\r\n")
			if st := statusOf(raw); st != tc.status {
				t.Fatalf("status %d, want %d: %q", st, tc.status, raw)
			}
			head := raw[:strings.Index(raw, "\r\n\r\n")]
			if !strings.Contains(head, "\r\nLocation: "+tc.location+"\r\n") {
				t.Fatalf("Location is not %q: %q", tc.location, head)
			}
			if strings.Contains(strings.ToLower(head), "set-cookie") && !strings.Contains(head, "%0A") {
				t.Fatalf("header injected: %q", head)
			}
		})
	}
}

func TestRedirectChecks(t *testing.T) {
	site := func(hosts []string, to string) error { return CheckSiteRedirect(hosts, to) }
	tests := []struct {
		name    string
		err     error
		wantErr string
	}{
		{"site fine", site([]string{"www.example.com"}, "https://example.com"), ""},
		{"site to itself", site([]string{"www.example.com", "example.com"}, "https://EXAMPLE.com/"), "points back at this site's own host"},
		{"site to itself via wildcard", site([]string{"*.example.com"}, "https://a.example.com"), "points back"},
		{"site relative", site([]string{"a"}, "/elsewhere"), "absolute http"},
		{"site with query", site([]string{"a"}, "https://b/?x=1"), "query"},
		{"route fine", CheckRouteRedirect("/old/", RedirectConfig{To: "/new/", Code: 301}), ""},
		{"route into itself", CheckRouteRedirect("/old/", RedirectConfig{To: "/old/new/"}), "stays inside the route"},
		{"route bad code", CheckRouteRedirect("/old/", RedirectConfig{To: "/new/", Code: 200}), "not one of"},
		{"route protocol-relative", CheckRouteRedirect("/old/", RedirectConfig{To: "//evil.com/"}), "starts with //"},
		{"route to nothing", CheckRouteRedirect("/old/", RedirectConfig{}), "no `to`"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if (tc.err == nil) != (tc.wantErr == "") || (tc.err != nil && !strings.Contains(tc.err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", tc.err, tc.wantErr)
			}
		})
	}
}

func mustHash(t testing.TB, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

func TestAccessRules(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}
	cfg.Sites[0].Routes = []RouteConfig{
		{Path: "/", App: "web"},
		{Path: "/admin/", App: "web", Access: AccessConfig{
			Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("203.0.113.0/24")},
			Deny:  []netip.Prefix{netip.MustParsePrefix("203.0.113.66/32")},
		}},
		{Path: "/private/", App: "web", Access: AccessConfig{BasicAuth: map[string]string{"alice": mustHash(t, "s3cret")}}},
	}
	s := startProxy(t, cfg)
	direct, other, lb := client(s), fromAddr(s, "127.0.0.2"), fromAddr(s, "127.0.0.3")
	tests := []struct {
		name   string
		c      *fasthttp.HostClient
		path   string
		hdr    []string
		status int
	}{
		{"open route", direct, "/x", nil, 200},
		{"not in allow", direct, "/admin/", nil, 403},
		{"in allow", other, "/admin/", nil, 200},
		{"XFF from an untrusted peer is ignored", direct, "/admin/", []string{"X-Forwarded-For", "203.0.113.7"}, 403},
		{"XFF from the trusted proxy", lb, "/admin/", []string{"X-Forwarded-For", "203.0.113.7"}, 200},
		{"spoofed left part is ignored", lb, "/admin/", []string{"X-Forwarded-For", "203.0.113.7, 198.51.100.1"}, 403},
		{"rightmost untrusted wins", lb, "/admin/", []string{"X-Forwarded-For", "198.51.100.1, 203.0.113.7, 127.0.0.3"}, 200},
		{"deny before allow", lb, "/admin/", []string{"X-Forwarded-For", "203.0.113.66"}, 403},
		{"garbage XFF fails closed", lb, "/admin/", []string{"X-Forwarded-For", "203.0.113.7, not-an-ip"}, 403},
		{"trusted proxy with no XFF is the client", lb, "/admin/", nil, 403},
		{"no credentials", direct, "/private/", nil, 401},
		{"right credentials", direct, "/private/", []string{"Authorization", basic("alice", "s3cret")}, 200},
		{"again, from the cache", direct, "/private/", []string{"Authorization", basic("alice", "s3cret")}, 200},
		{"wrong password", direct, "/private/", []string{"Authorization", basic("alice", "guess")}, 401},
		{"unknown user", direct, "/private/", []string{"Authorization", basic("bob", "s3cret")}, 401},
		{"not base64", direct, "/private/", []string{"Authorization", "Basic %%%"}, 401},
		{"no colon", direct, "/private/", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}, 401},
		{"huge", direct, "/private/", []string{"Authorization", "Basic " + strings.Repeat("QUFB", 2000)}, 401},
		{"bearer", direct, "/private/", []string{"Authorization", "Bearer abc"}, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, _, h := get(t, tc.c, "a", tc.path, tc.hdr...)
			if st != tc.status {
				t.Fatalf("status %d, want %d", st, tc.status)
			}
			if st == 401 && !strings.HasPrefix(string(h.Peek("WWW-Authenticate")), `Basic realm="edge"`) {
				t.Errorf("WWW-Authenticate %q", h.Peek("WWW-Authenticate"))
			}
		})
	}
}

func TestClientAddr(t *testing.T) {
	trusted := prefixList{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	peerLB, peerOut := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("198.51.100.9")
	tests := []struct {
		name string
		peer netip.Addr
		xff  []string
		want string
	}{
		{"untrusted peer", peerOut, []string{"1.2.3.4"}, "198.51.100.9"},
		{"trusted peer, one hop", peerLB, []string{"1.2.3.4"}, "1.2.3.4"},
		{"two headers, rightmost untrusted", peerLB, []string{"6.6.6.6", "1.2.3.4, 10.9.9.9"}, "1.2.3.4"},
		{"all trusted: leftmost", peerLB, []string{"10.0.0.5, 10.0.0.6"}, "10.0.0.5"},
		{"with port", peerLB, []string{"1.2.3.4:5678"}, "1.2.3.4"},
		{"v6 with port", peerLB, []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"mapped v4", peerLB, []string{"::ffff:1.2.3.4"}, "1.2.3.4"},
		{"garbage", peerLB, []string{"1.2.3.4, <script>"}, "invalid IP"},
		{"empty elements", peerLB, []string{" , ,1.2.3.4,"}, "1.2.3.4"},
		{"no header", peerLB, nil, "10.1.2.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			for _, v := range tc.xff {
				h.Add("X-Forwarded-For", v)
			}
			if got := clientAddr(&h, tc.peer, trusted).String(); got != tc.want {
				t.Fatalf("client %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRateLimitThroughProxy(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Sites[0].Routes[0].Access = AccessConfig{RateLimit: 1, RateBurst: 3}
	s := startProxy(t, cfg)
	c, other := client(s), fromAddr(s, "127.0.0.2")
	for i := range 3 {
		if st, _, _ := get(t, c, "a", "/"); st != 200 {
			t.Fatalf("request %d of the burst: %d", i, st)
		}
	}
	st, _, h := get(t, c, "a", "/")
	if st != 429 || string(h.Peek("Retry-After")) != "1" {
		t.Fatalf("over the burst: %d, Retry-After %q", st, h.Peek("Retry-After"))
	}
	if st, _, _ := get(t, other, "a", "/"); st != 200 {
		t.Fatalf("another client address was limited too: %d", st)
	}
	time.Sleep(1100 * time.Millisecond)
	if st, _, _ := get(t, c, "a", "/"); st != 200 {
		t.Fatalf("a token did not come back after a second: %d", st)
	}
}

func TestRateLimiterBuckets(t *testing.T) {
	l := newRateLimiter(10, 5, 0)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	a := netip.MustParseAddr("192.0.2.1")
	for i := range 5 {
		if ok, _ := l.allow(a); !ok {
			t.Fatalf("burst request %d refused", i)
		}
	}
	ok, retry := l.allow(a)
	if ok || retry <= 0 || retry > 100*time.Millisecond {
		t.Fatalf("6th: ok=%v retry=%v, want refused with retry ≤ 100ms", ok, retry)
	}
	now = now.Add(100 * time.Millisecond)
	if ok, _ := l.allow(a); !ok {
		t.Fatal("a token should be back after 1/rate")
	}
	// IPv6 clients share a bucket per /64.
	v1, v2 := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff::9")
	for range 5 {
		l.allow(v1)
	}
	if ok, _ := l.allow(v2); ok {
		t.Fatal("another address of the same /64 got its own bucket")
	}
}

// TestRateLimiterFloodIsBounded sends 100k distinct client addresses through one
// limiter and checks it remembers at most about twice the tracked bound.
func TestRateLimiterFloodIsBounded(t *testing.T) {
	const tracked = 4096
	l := newRateLimiter(5, 10, tracked)
	for i := range 100_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if ok, _ := l.allow(a); !ok {
			t.Fatalf("a new client %s was refused", a)
		}
	}
	total := 0
	for i := range l.shards {
		total += len(l.shards[i].cur) + len(l.shards[i].prev)
	}
	if total > 2*tracked {
		t.Fatalf("limiter remembers %d clients, bound is %d", total, 2*tracked)
	}
}

// TestTrustedProxyForwardingHeaders: what the upstream receives. Only a trusted peer's
// X-Forwarded-For is kept (with the peer appended) and X-Real-IP names the client it
// proves; anyone else's is replaced by the peer's address.
func TestTrustedProxyForwardingHeaders(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}
	s := startProxy(t, cfg)
	tests := []struct {
		name, src, xff    string
		wantXFF, wantReal string
	}{
		{"untrusted peer", "127.0.0.1", "203.0.113.7", "127.0.0.1", "127.0.0.1"},
		{"trusted peer", "127.0.0.3", "203.0.113.7, 198.51.100.1", "203.0.113.7, 198.51.100.1, 127.0.0.3", "198.51.100.1"},
		{"trusted peer, no header", "127.0.0.3", "", "127.0.0.3", "127.0.0.3"},
		{"trusted peer, chain of trusted", "127.0.0.3", "127.0.0.3", "127.0.0.3, 127.0.0.3", "127.0.0.3"},
		{"trusted peer, garbage", "127.0.0.3", "nonsense", "nonsense, 127.0.0.3", "127.0.0.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.xff != "" {
				hdr = []string{"X-Forwarded-For", tc.xff}
			}
			get(t, fromAddr(s, tc.src), "a", "/who", hdr...)
			seen := blue.requests()
			last := seen[len(seen)-1]
			if got := last.Headers["X-Forwarded-For"]; got != tc.wantXFF {
				t.Errorf("X-Forwarded-For %q, want %q", got, tc.wantXFF)
			}
			if got := last.Headers["X-Real-Ip"]; got != tc.wantReal {
				t.Errorf("X-Real-Ip %q, want %q", got, tc.wantReal)
			}
		})
	}
}

// TestBasicAuthGuessFloodIsBounded: while every bcrypt slot is busy, a guess waits at
// most bcryptWait and then gets 503 with Retry-After, instead of queueing for ever.
func TestBasicAuthGuessFloodIsBounded(t *testing.T) {
	r, err := compileAccess(AccessConfig{BasicAuth: map[string]string{"alice": mustHash(t, "pw")}})
	if err != nil {
		t.Fatal(err)
	}
	for range cap(bcryptSlots) {
		bcryptSlots <- struct{}{}
	}
	start := time.Now()
	got := r.authorized([]byte(basic("alice", "guess")))
	for range cap(bcryptSlots) {
		<-bcryptSlots
	}
	if got != authBusy || time.Since(start) > bcryptWait+time.Second {
		t.Fatalf("with every slot busy: %v after %s, want authBusy after about %s", got, time.Since(start), bcryptWait)
	}
	if got := r.authorized([]byte(basic("alice", "pw"))); got != authOK {
		t.Fatalf("with a free slot: %v", got)
	}
}
