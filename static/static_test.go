package static

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestStaticContentTypeAndHeaders(t *testing.T) {
	root := testSite(t)
	s := startStatic(t, "/", Config{Root: root}, nil)
	tests := []struct {
		path, ctype, bodyHas string
	}{
		{"/", "text/html; charset=utf-8", "SPA-INDEX"},
		{"/index.html", "text/html; charset=utf-8", "SPA-INDEX"},
		{"/assets/index-3f2a9c1b.js", "text/javascript; charset=utf-8", "export function f0"},
		{"/assets/style-BRcx7a2Q.css", "text/css; charset=utf-8", ".c0 {"},
		{"/assets/logo-5e2a6c1f.svg", "image/svg+xml", "<svg"},
		{"/data.json", "application/json", `"ok"`},
		{"/robots.txt", "text/plain; charset=utf-8", "User-agent"},
		{"/favicon.ico", "image/x-icon", ""},
		{"/image.png", "image/png", "PNG"},
		{"/LICENSE", "text/plain; charset=utf-8", "MIT License"},              // sniffed
		{"/mystery.qqq", "text/html; charset=utf-8", "sniffed as html"},       // sniffed
		{"/assets/index-3f2a9c1b.js.gz", "application/gzip", ""},              // sibling asked for by name
		{"/.well-known/security.txt", "text/plain; charset=utf-8", "Contact"}, // RFC 8615 exception
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r := s.get(t, tc.path)
			if r.StatusCode() != 200 {
				t.Fatalf("status %d, want 200", r.StatusCode())
			}
			if got := header(r, "Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if !strings.Contains(string(r.Body()), tc.bodyHas) {
				t.Errorf("body %q does not contain %q", r.Body(), tc.bodyHas)
			}
			for _, h := range []string{"ETag", "Last-Modified", "Cache-Control", "Accept-Ranges", "X-Content-Type-Options"} {
				if header(r, h) == "" {
					t.Errorf("missing %s", h)
				}
			}
			if header(r, "Content-Encoding") != "" {
				t.Errorf("Content-Encoding %q without Accept-Encoding", header(r, "Content-Encoding"))
			}
		})
	}
}

func TestStaticCachePolicy(t *testing.T) {
	root := testSite(t)
	def := startStatic(t, "/", Config{Root: root, SPA: true}, nil)
	custom := startStatic(t, "/", Config{Root: root, SPA: true,
		ImmutableCacheControl: "public, max-age=600", CacheControl: "no-store"}, nil)
	const imm = "public, max-age=31536000, immutable"
	tests := []struct {
		path, want, custom string
	}{
		{"/", "no-cache", "no-store"},
		{"/index.html", "no-cache", "no-store"},
		{"/assets/index-3f2a9c1b.js", imm, "public, max-age=600"},
		{"/assets/style-BRcx7a2Q.css", imm, "public, max-age=600"},
		{"/assets/logo-5e2a6c1f.svg", imm, "public, max-age=600"},
		{"/robots.txt", "no-cache", "no-store"},
		{"/favicon.ico", "no-cache", "no-store"},
		{"/docs/", "no-cache", "no-store"},
		{"/users/42", "no-cache", "no-store"},       // SPA fallback serves index.html
		{"/inside-link.js", "no-cache", "no-store"}, // policy follows the URL, not the target
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			for _, c := range []struct {
				s    *staticServer
				want string
			}{{def, tc.want}, {custom, tc.custom}} {
				r := c.s.get(t, tc.path)
				if r.StatusCode() != 200 {
					t.Fatalf("status %d", r.StatusCode())
				}
				if got := header(r, "Cache-Control"); got != c.want {
					t.Errorf("Cache-Control %q, want %q", got, c.want)
				}
			}
		})
	}
}

func TestIsHashedName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"index-3f2a9c1b.js", true},
		{"index-BRcx7a2Q.css", true},
		{"vendor-Dk3_a9Zq.js", true},
		{"main.8a3d9f1c.js", true},
		{"787.5e2a6c1f.chunk.js", true},
		{"index-3f2a9c1b.js.map", true},
		{"index-3f2a9c1b.js.br", true},
		{"app.0123456789abcdef0123456789abcdef.js", true},
		{"index.html", false},
		{"app.js", false},
		{"favicon.ico", false},
		{"jquery-3.7.1.min.js", false},
		{"apple-touch-icon.png", false},
		{"logo-1024x1024.png", false},
		{"report-2024.pdf", false},
		{"my-component.js", false},                           // no digit
		{"my-awesomecomponent.js", false},                    // no digit
		{"20240115.log", false},                              // no separator
		{"x-20240115.log", false},                            // no letter
		{"-3f2a9c1b.js", false},                              // nothing before the separator
		{"index-3f2a9c1.js", false},                          // 7 chars
		{"index-3f2a9c1b", false},                            // no extension
		{"index-3f2a-9c1b.js", false},                        // hash with '-' is not recognised (safe side)
		{"index-" + strings.Repeat("a1", 33) + ".js", false}, // 66 chars
		{"", false},
	}
	for _, tc := range tests {
		if got := isHashedName(tc.name); got != tc.want {
			t.Errorf("isHashedName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestStaticDirectoriesAndPrefix(t *testing.T) {
	root := testSite(t)
	s := startStatic(t, "/", Config{Root: root}, nil)
	sub := startStatic(t, "/static/", Config{Root: root}, nil)
	tests := []struct {
		srv      *staticServer
		path     string
		status   int
		location string
		bodyHas  string
	}{
		{s, "/", 200, "", "SPA-INDEX"},
		{s, "/docs/", 200, "", "DOCS-INDEX"},
		{s, "/docs", 301, "/docs/", ""},
		{s, "/docs?x=1&y=2", 301, "/docs/?x=1&y=2", ""},
		{s, "/docs-link/", 200, "", "DOCS-INDEX"}, // symlinked dir inside the root
		{s, "/empty-dir/", 404, "", ""},           // no index.html: never a listing
		{s, "/empty-dir", 404, "", ""},
		{s, "/assets/", 404, "", ""},
		{s, "/nope/", 404, "", ""},
		{s, "/robots.txt/", 404, "", ""}, // a file asked for as a directory
		{s, "/docs/index.html", 200, "", "DOCS-INDEX"},
		{sub, "/static/", 200, "", "SPA-INDEX"},
		{sub, "/static", 301, "/static/", ""},
		{sub, "/static/docs", 301, "/static/docs/", ""},
		{sub, "/static/assets/index-3f2a9c1b.js", 200, "", "export function"},
		{sub, "/staticx/robots.txt", 404, "", ""},
		{sub, "/robots.txt", 404, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r := tc.srv.get(t, tc.path)
			if r.StatusCode() != tc.status {
				t.Fatalf("status %d, want %d (body %q)", r.StatusCode(), tc.status, r.Body())
			}
			if got := header(r, "Location"); got != tc.location {
				t.Errorf("Location %q, want %q", got, tc.location)
			}
			if !strings.Contains(string(r.Body()), tc.bodyHas) {
				t.Errorf("body %q lacks %q", r.Body(), tc.bodyHas)
			}
			if tc.status == 404 && strings.Contains(string(r.Body()), "readme.txt") {
				t.Errorf("directory listing leaked: %q", r.Body())
			}
		})
	}
}

func TestStaticMethods(t *testing.T) {
	root := testSite(t)
	s := startStatic(t, "/", Config{Root: root, SPA: true}, nil)
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"} {
		t.Run(m, func(t *testing.T) {
			r := s.do(t, m, "/index.html", "Content-Length: 0")
			if r.StatusCode() != fasthttp.StatusMethodNotAllowed {
				t.Fatalf("status %d, want 405", r.StatusCode())
			}
			if got := header(r, "Allow"); got != "GET, HEAD" {
				t.Errorf("Allow %q", got)
			}
		})
	}
}

func TestStaticHEAD(t *testing.T) {
	root := testSite(t)
	writeFile(t, root+"/huge.bin", make([]byte, 3<<20)) // streamed, not held in memory
	s := startStatic(t, "/", Config{Root: root, Compress: true}, nil)
	for _, p := range []string{"/", "/assets/index-3f2a9c1b.js", "/huge.bin", "/users/1"} {
		t.Run(p, func(t *testing.T) {
			get := s.get(t, p, "Accept-Encoding: gzip")
			head := s.do(t, "HEAD", p, "Accept-Encoding: gzip")
			if get.StatusCode() != head.StatusCode() {
				t.Fatalf("GET %d, HEAD %d", get.StatusCode(), head.StatusCode())
			}
			for _, h := range []string{"Content-Length", "Content-Type", "ETag", "Last-Modified", "Cache-Control", "Content-Encoding", "Vary"} {
				if header(get, h) != header(head, h) {
					t.Errorf("%s: GET %q, HEAD %q", h, header(get, h), header(head, h))
				}
			}
			if len(head.Body()) != 0 {
				t.Errorf("HEAD returned a body of %d bytes", len(head.Body()))
			}
		})
	}
	r := s.do(t, "HEAD", "/huge.bin", "Range: bytes=10-19")
	if r.StatusCode() != 206 || header(r, "Content-Length") != "10" || header(r, "Content-Range") != "bytes 10-19/3145728" {
		t.Errorf("HEAD range: %d %q %q", r.StatusCode(), header(r, "Content-Length"), header(r, "Content-Range"))
	}
}

func TestStaticSPA(t *testing.T) {
	root := testSite(t)
	spa := startStatic(t, "/", Config{Root: root, SPA: true}, nil)
	plain := startStatic(t, "/", Config{Root: root}, nil)
	sub := startStatic(t, "/app/", Config{Root: root, SPA: true}, nil)
	tests := []struct {
		srv     *staticServer
		path    string
		status  int
		bodyHas string
	}{
		{spa, "/users/42", 200, "SPA-INDEX"},
		{spa, "/users/42/", 200, "SPA-INDEX"},
		{spa, "/settings?tab=profile", 200, "SPA-INDEX"},
		{spa, "/empty-dir/", 200, "SPA-INDEX"},      // directory without index
		{spa, "/missing.js", 404, ""},               // has an extension: real 404
		{spa, "/assets/index-00000000.js", 404, ""}, // stale hashed chunk: real 404
		{spa, "/users/avatar.png", 404, ""},
		{spa, "/.env", 404, ""},             // hidden is never a fallback
		{spa, "/.git", 404, ""},             // hidden, no extension: still 404
		{spa, "/leakdir", 200, "SPA-INDEX"}, // refused symlink counts as missing: fallback, no leak
		{spa, "/docs/", 200, "DOCS-INDEX"},
		{plain, "/users/42", 404, ""},
		{sub, "/app/users/42", 200, "SPA-INDEX"},
		{sub, "/app/missing.css", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r := tc.srv.get(t, tc.path)
			body := string(r.Body())
			if r.StatusCode() != tc.status {
				t.Fatalf("status %d, want %d (body %q)", r.StatusCode(), tc.status, body)
			}
			if strings.Contains(body, "SECRET") {
				t.Fatalf("secret leaked: %q", body)
			}
			if !strings.Contains(body, tc.bodyHas) {
				t.Errorf("body %q lacks %q", body, tc.bodyHas)
			}
			if tc.status == 200 && strings.Contains(tc.bodyHas, "INDEX") {
				if got := header(r, "Cache-Control"); got != "no-cache" {
					t.Errorf("Cache-Control %q, want no-cache", got)
				}
				if header(r, "Content-Type") != "text/html; charset=utf-8" {
					t.Errorf("Content-Type %q", header(r, "Content-Type"))
				}
			}
		})
	}
	// The fallback index answers conditional requests like the real one.
	first := spa.get(t, "/some/route")
	r := spa.get(t, "/other/route", "If-None-Match: "+header(first, "ETag"))
	if r.StatusCode() != 304 {
		t.Errorf("conditional SPA fallback: status %d, want 304", r.StatusCode())
	}
	if n := spa.h.cache.len(); n > 8 {
		t.Errorf("SPA fallbacks grew the cache to %d entries", n)
	}
}
