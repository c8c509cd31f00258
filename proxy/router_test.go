package proxy

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

func routerTable(t testing.TB) *table {
	t.Helper()
	h := func(ctx *fasthttp.RequestCtx) {}
	cfg := withDefaults(Config{
		Apps: []AppConfig{
			{Name: "api", Blue: []string{"127.0.0.1:1"}, Green: []string{"127.0.0.1:2"}},
			{Name: "admin", Blue: []string{"127.0.0.1:3"}, Green: []string{"127.0.0.1:4"}},
		},
		Handlers: map[string]fasthttp.RequestHandler{"chat": h, "other": h},
		Sites: []SiteConfig{
			{Hosts: []string{"example.com", "www.example.com"}, Routes: []RouteConfig{
				{Path: "/", Handler: "other"},
				{Path: "/api/", App: "api"},
				{Path: "/api/admin/", App: "admin"},
				{Path: "/chat/", Handler: "chat"},
			}},
			{Hosts: []string{"*.example.com"}, Routes: []RouteConfig{{Path: "/", App: "admin"}}},
			{Hosts: []string{"*.apps.example.org"}, Routes: []RouteConfig{{Path: "/x/", App: "api"}}},
		},
	})
	if err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	tb, err := (&tableBuilder{cfg: &cfg, log: zap.NewNop()}).build()
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestRouterTable(t *testing.T) {
	tb := routerTable(t)
	tests := []struct {
		host, path string
		want       string // "app:NAME", "handler", or "" for no route
		site       string
	}{
		{"example.com", "/", "handler", "example.com"},
		{"example.com", "/api/users", "app:api", "example.com"},
		{"example.com", "/api/admin/x", "app:admin", "example.com"},
		{"example.com", "/api/admin", "app:api", "example.com"},
		{"example.com", "/api", "handler", "example.com"},
		{"example.com", "/chat/ws", "handler", "example.com"},
		{"EXAMPLE.com:443", "/api/", "app:api", "example.com"},
		{"www.example.com.", "/api/", "app:api", "example.com"},
		{"shop.example.com", "/anything", "app:admin", "*.example.com"},
		{"Shop.Example.Com:8080", "/", "app:admin", "*.example.com"},
		{"a.b.example.com", "/", "", ""},
		{"example.org", "/", "", ""},
		{"x.apps.example.org", "/x/1", "app:api", "*.apps.example.org"},
		{"x.apps.example.org", "/y", "", "*.apps.example.org"},
		{"apps.example.org", "/x/1", "", ""},
		{"", "/", "", ""},
		{"[::1]:80", "/", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			s := tb.site([]byte(tc.host))
			if s == nil {
				if tc.site != "" {
					t.Fatalf("no site, want %s", tc.site)
				}
				return
			}
			if s.name != tc.site {
				t.Fatalf("site %s, want %s", s.name, tc.site)
			}
			r := s.match([]byte(tc.path))
			got := ""
			switch {
			case r == nil:
			case r.kind == routeApp:
				got = "app:" + r.app.name
			default:
				got = "handler"
			}
			if got != tc.want {
				t.Fatalf("route %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRouterCatchAllSite(t *testing.T) {
	h := func(ctx *fasthttp.RequestCtx) {}
	cfg := withDefaults(Config{
		Handlers: map[string]fasthttp.RequestHandler{"h": h},
		Sites: []SiteConfig{
			{Hosts: []string{"a.example"}, Routes: []RouteConfig{{Path: "/a/", Handler: "h"}}},
			{Hosts: []string{"*"}, Routes: []RouteConfig{{Path: "/", Handler: "h"}}},
		},
	})
	tb, err := (&tableBuilder{cfg: &cfg, log: zap.NewNop()}).build()
	if err != nil {
		t.Fatal(err)
	}
	if s := tb.site([]byte("a.example")); s == nil || s.name != "a.example" {
		t.Fatalf("exact host lost to the catch-all")
	}
	if s := tb.site([]byte("127.0.0.1:8080")); s == nil || s.name != "*" {
		t.Fatalf("catch-all did not match an IP host")
	}
	if s := tb.site([]byte("a.example")); s.match([]byte("/b")) != nil {
		t.Fatalf("a site's routes fell through to another site")
	}
}

func TestConfigCheck(t *testing.T) {
	h := func(ctx *fasthttp.RequestCtx) {}
	base := func() Config {
		return Config{
			Apps:     []AppConfig{{Name: "web", Blue: []string{"127.0.0.1:1"}, Green: []string{"127.0.0.1:2"}}},
			Handlers: map[string]fasthttp.RequestHandler{"chat": h},
			Sites:    []SiteConfig{{Hosts: []string{"a.example"}, Routes: []RouteConfig{{Path: "/", App: "web"}}}},
		}
	}
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"ok", func(c *Config) {}, ""},
		{"https without tls", func(c *Config) { c.HTTPSAddr = ":443" }, "no TLS config"},
		{"unknown app", func(c *Config) { c.Sites[0].Routes[0].App = "nope" }, "unknown app"},
		{"missing handler", func(c *Config) { c.Sites[0].Routes[0] = RouteConfig{Path: "/", Handler: "nope"} }, "not supplied"},
		{"two targets", func(c *Config) { c.Sites[0].Routes[0].Handler = "chat" }, "exactly one"},
		{"no target", func(c *Config) { c.Sites[0].Routes[0].App = "" }, "exactly one"},
		{"path without slash", func(c *Config) { c.Sites[0].Routes[0].Path = "api" }, "must start with /"},
		{"same colors", func(c *Config) { c.Apps[0].Green = c.Apps[0].Blue }, "same address"},
		{"missing green", func(c *Config) { c.Apps[0].Green = nil }, "both a blue and a green"},
		{"duplicate app", func(c *Config) { c.Apps = append(c.Apps, c.Apps[0]) }, "defined twice"},
		{"duplicate host", func(c *Config) { c.Sites = append(c.Sites, c.Sites[0]) }, "more than one site"},
		{"bad host", func(c *Config) { c.Sites[0].Hosts[0] = "http://a" }, "not a DNS name"},
		{"duplicate path", func(c *Config) { c.Sites[0].Routes = append(c.Sites[0].Routes, c.Sites[0].Routes[0]) }, "twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mutate(&c)
			c = withDefaults(c)
			err := c.check()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestNormalizeHost(t *testing.T) {
	tests := []struct{ in, out string }{
		{"Example.COM", "example.com"},
		{"example.com:8080", "example.com"},
		{"example.com.", "example.com"},
		{"[::1]:443", "[::1]"},
		{"[::1]", "[::1]"},
		{"127.0.0.1:80", "127.0.0.1"},
		{"", "!"},
		{"[::1", "!"},
		{"[::1]x", "!"},
		{"a b", "!"},
		{"a/b", "!"},
		{strings.Repeat("a", 300), "!"},
	}
	for _, tc := range tests {
		var buf [maxHostLen]byte
		got, ok := normalizeHost([]byte(tc.in), &buf)
		if !ok {
			got = []byte("!")
		}
		if string(got) != tc.out {
			t.Errorf("normalizeHost(%q) = %q, want %q", tc.in, got, tc.out)
		}
	}
}

// FuzzHostMatch checks that host normalization never panics, never allocates a
// result longer than its input, and is idempotent and case-insensitive.
func FuzzHostMatch(f *testing.F) {
	for _, s := range []string{"example.com", "A.Example.COM:443", "[::1]:80", "*.x", "..", "[", ":", "a.b.c.d.e"} {
		f.Add(s)
	}
	tb := hostTable{exact: map[string]*site{"example.com": {name: "e"}}, wildcard: map[string]*site{"example.com": {name: "w"}}}
	f.Fuzz(func(t *testing.T, h string) {
		var buf [maxHostLen]byte
		n, ok := normalizeHost([]byte(h), &buf)
		if !ok {
			return
		}
		if len(n) > len(h) || strings.ToLower(string(n)) != string(n) {
			t.Fatalf("normalizeHost(%q) = %q", h, n)
		}
		var buf2 [maxHostLen]byte
		if n2, ok := normalizeHost(n, &buf2); !ok || string(n2) != string(n) && n[0] != '[' {
			t.Fatalf("not idempotent: %q -> %q -> %q", h, n, n2)
		}
		if a, b := tb.match([]byte(h)), tb.match([]byte(strings.ToUpper(h))); a != b {
			t.Fatalf("case changes the match for %q", h)
		}
	})
}
