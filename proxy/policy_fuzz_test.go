package proxy

import (
	"bufio"
	"net/netip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzRedirectLocation feeds request targets to a route redirect and a site
// redirect and checks the Location property: it starts with the configured target,
// never becomes protocol-relative ("//host"), and holds no byte that could end the
// header line or the URL.
func FuzzRedirectLocation(f *testing.F) {
	for _, s := range []string{"/old/a?x=1", "/old//evil.com", "/old/%0d%0aSet-Cookie:a", "/old/\\\\evil", "/old/../../etc", "/old/%2f%2fevil.com", "/old/a b"} {
		f.Add(s)
	}
	route, err := compileRouteRedirect("/old/", &RedirectConfig{To: "/"})
	if err != nil {
		f.Fatal(err)
	}
	site, err := compileSiteRedirect(SiteConfig{Hosts: []string{"www.example.com"}, Redirect: "https://example.com"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, target string) {
		var ctx fasthttp.RequestCtx
		raw := "GET " + target + " HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
		if err := ctx.Request.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return // fasthttp refuses it before any route
		}
		for _, r := range []*redirectRule{route, site} {
			ctx.Response.Reset()
			r.answer(&ctx)
			loc := string(ctx.Response.Header.Peek("Location"))
			if !strings.HasPrefix(loc, string(r.target)) {
				t.Fatalf("Location %q does not start with %q", loc, r.target)
			}
			if strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
				t.Fatalf("Location %q is protocol-relative", loc)
			}
			for i := range len(loc) {
				if c := loc[i]; c <= ' ' || c == 0x7f {
					t.Fatalf("Location %q holds byte %#x", loc, c)
				}
			}
		}
	})
}

// FuzzClientAddr checks who clientAddr says the client is: the peer, the zero
// address (a garbled header), or an address that is in the header and not trusted
// (unless every entry was trusted).
func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "1.2.3.4, 10.0.0.1", "garbage", "[::1]:80, 10.9.9.9", ",,,", "10.0.0.1,10.0.0.2"} {
		f.Add(s)
	}
	trusted := prefixList{netip.MustParsePrefix("10.0.0.0/8")}
	peer := netip.MustParseAddr("10.0.0.9")
	f.Fuzz(func(t *testing.T, xff string) {
		var h fasthttp.RequestHeader
		h.Set("X-Forwarded-For", xff)
		got := clientAddr(&h, peer, trusted)
		if got == peer || !got.IsValid() {
			return
		}
		found := false
		for _, tok := range strings.Split(string(h.Peek("X-Forwarded-For")), ",") {
			if a, ok := parseForwardedAddr([]byte(strings.Trim(tok, " \t"))); ok && a == got {
				found = true
			}
		}
		if !found {
			t.Fatalf("client %s is not in X-Forwarded-For %q", got, xff)
		}
	})
}

// FuzzHeaderRules checks that a name and value the checks accept become exactly
// one header that fasthttp reads back unchanged: a rule can never split a response.
func FuzzHeaderRules(f *testing.F) {
	for _, s := range [][2]string{{"X-Frame-Options", "DENY"}, {"X\r\nA", "b"}, {"X-A", "1\r\nSet-Cookie: x"}, {"X-A", "\x00"}, {"Content-Length", "1"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		ops, err := compileHeaderRules(HeaderRules{Set: map[string]string{name: value}})
		if err != nil {
			return
		}
		var resp fasthttp.Response
		resp.SetBodyString("ok")
		ops.apply(&resp.Header)
		var back fasthttp.Response
		if err := back.Read(bufio.NewReader(strings.NewReader(resp.String()))); err != nil {
			t.Fatalf("the response no longer parses: %v", err)
		}
		if string(back.Body()) != "ok" {
			t.Fatalf("body changed to %q", back.Body())
		}
		n := 0
		for range back.Header.All() {
			n++
		}
		if want := 4; n > want { // Date, Content-Type, Content-Length, the rule's header
			t.Fatalf("%d headers after one rule: %q", n, resp.Header.String())
		}
	})
}
