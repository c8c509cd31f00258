package static

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-server/edge/internal/wait"
)

// leaked reports whether a body holds anything the site must never serve.
func leaked(body string) bool {
	return strings.Contains(body, "SECRET") || strings.Contains(body, "root:x:0:0") || strings.Contains(body, "readme.txt")
}

func TestStaticHostilePaths(t *testing.T) {
	root := testSite(t)
	writeFile(t, filepath.Join(root, "evil.com/index.html"), []byte("a dir named like a host\n"))
	plain := startStatic(t, "/", Config{Root: root}, nil)
	spa := startStatic(t, "/", Config{Root: root, SPA: true}, nil)
	sub := startStatic(t, "/static/", Config{Root: root, SPA: true}, nil)
	long := strings.Repeat("a", 3000)
	tests := []struct {
		target string
		status int // on the plain (non-SPA) server; 0 = any non-200
	}{
		// traversal, plain and encoded: fasthttp resolves it inside the root, never above
		{"/../../../../etc/passwd", 404},
		{"/assets/../../outside/secret.txt", 404},
		{"/..%2f..%2f..%2fetc%2fpasswd", 404},
		{"/%2e%2e/%2e%2e/etc/passwd", 404},
		{"/%2E%2E/%2E%2E/outside/secret.txt", 404},
		{"/.%2e/.%2e/etc/passwd", 404},
		{"/%2f%2fetc/passwd", 404},
		{"//etc/passwd", 404},
		{"http://evil.example/../../etc/passwd", 404},
		// double encoding: a '%' left after decoding is refused
		{"/%252e%252e/%252e%252e/etc/passwd", 400},
		{"/..%252f..%252fetc%252fpasswd", 400},
		{"/%25%32%65%25%32%65/etc/passwd", 400},
		// backslashes, raw and encoded
		{`/..\..\etc\passwd`, 400},
		{`/assets\..\..\outside\secret.txt`, 400},
		{"/%5c..%5c..%5cetc%5cpasswd", 400},
		{"/..%5c..%5coutside%5csecret.txt", 400},
		// NUL and other control bytes (also no header injection through Location)
		{"/index.html%00.js", 400},
		{"/leak.txt%00", 400},
		{"/docs%0d%0aLocation:%20http://evil", 400},
		{"/a%09b", 400},
		{"/a%7fb", 400},
		// overlong UTF-8 for '.', '/' and invalid UTF-8
		{"/%c0%ae%c0%ae/etc/passwd", 400},
		{"/%e0%80%ae%e0%80%ae/etc/passwd", 400},
		{"/%c0%af..%c0%afetc/passwd", 400},
		{"/%ff%fe", 400},
		// overlong paths and names
		{"/" + long, 414},
		{"/" + strings.Repeat("b", 300) + ".js", 414},
		{"/" + strings.Repeat("a/", 1100), 414},
		// dotfiles and dot-directories
		{"/.env", 404},
		{"/.git/config", 404},
		{"/.git/", 404},
		{"/.git", 404},
		{"/%2egit/config", 404},
		{"/%2Eenv", 404},
		{"/assets/.hidden.js", 404},
		{"/.well-known/../.env", 404},
		{"/docs/.", 400}, // fasthttp leaves a trailing "/." alone
		{"/.well-known/.env", 404},
		{"/docs/.well-known/x", 404},
		// symlinks leaving the root, or landing on hidden files
		{"/leak.txt", 404},
		{"/leakdir/secret.txt", 404},
		{"/leakdir/", 404},
		{"/leakdir/index.html", 404},
		{"/abs-leak.txt", 404},
		{"/passwd", 404},
		{"/public/config", 404},
		{"/env.txt", 404},
		{"/loop-a", 404},
		// not a regular file: must answer, not hang
		{"/fifo.txt", 404},
		// no listings
		{"/empty-dir/", 404},
		{"/assets/", 404},
	}
	for _, tc := range tests {
		name := tc.target
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			for _, srv := range []*staticServer{plain, spa} {
				r := srv.get(t, tc.target)
				body := string(r.Body())
				if leaked(body) {
					t.Fatalf("leaked: %d %q", r.StatusCode(), body)
				}
				if loc := header(r, "Location"); strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\r\n") {
					t.Fatalf("unsafe Location %q", loc)
				}
				if srv == plain && r.StatusCode() != tc.status {
					t.Errorf("status %d, want %d", r.StatusCode(), tc.status)
				}
				if srv == spa && r.StatusCode() == 200 && !strings.Contains(body, "SPA-INDEX") {
					t.Errorf("SPA server answered 200 with %q", body)
				}
			}
			r := sub.get(t, "/static"+tc.target)
			if leaked(string(r.Body())) {
				t.Fatalf("leaked under /static/: %q", r.Body())
			}
		})
	}
	// A host-like directory name cannot turn the slash redirect into an open redirect.
	r := plain.get(t, "//evil.com")
	if r.StatusCode() != 301 || header(r, "Location") != "/evil.com/" {
		t.Errorf("//evil.com: %d Location %q", r.StatusCode(), header(r, "Location"))
	}
	// The legitimate in-root symlink still works.
	if r := plain.get(t, "/inside-link.js"); r.StatusCode() != 200 || !strings.Contains(string(r.Body()), "export function") {
		t.Errorf("in-root symlink: %d", r.StatusCode())
	}
}

func TestCleanStaticPath(t *testing.T) {
	tests := []struct {
		in, out string
		v       pathVerdict
	}{
		{"/", "/", pathOK},
		{"/a/b.js", "/a/b.js", pathOK},
		{"/a/b/", "/a/b/", pathOK},
		{"//a///b//", "/a/b/", pathOK},
		{"a/b", "/a/b", pathOK},
		{"", "/", pathOK},
		{"/a.b.c/d-e_f~g@h:i;j", "/a.b.c/d-e_f~g@h:i;j", pathOK},
		{"/.well-known/x.json", "/.well-known/x.json", pathOK},
		{"/héllo/世界.txt", "/héllo/世界.txt", pathOK},
		{"/..", "", pathBad},
		{"/../x", "", pathBad},
		{"/a/../../x", "", pathBad},
		{"/a/./b", "", pathBad},
		{"/.", "", pathBad},
		{"/.env/..", "", pathBad}, // ".." wins over hidden
		{`/a\b`, "", pathBad},
		{"/a\x00b", "", pathBad},
		{"/a\nb", "", pathBad},
		{"/a\x7fb", "", pathBad},
		{"/a%2e%2e", "", pathBad},
		{"/\xc0\xae\xc0\xae", "", pathBad},
		{"/\xff", "", pathBad},
		{"/.env", "", pathHidden},
		{"/a/.git/config", "", pathHidden},
		{"/.well-known/.x", "", pathHidden},
		{"/a/.well-known/x", "", pathHidden},
		{"/..foo", "", pathHidden},
		{"/" + strings.Repeat("x", maxStaticSegment), "/" + strings.Repeat("x", maxStaticSegment), pathOK},
		{"/" + strings.Repeat("x", maxStaticSegment+1), "", pathTooLong},
		{"/" + strings.Repeat("x/", maxStaticPath/2), "", pathTooLong},
	}
	for _, tc := range tests {
		got, v := cleanStaticPath(nil, []byte(tc.in))
		if v != tc.v || string(got) != tc.out {
			t.Errorf("cleanStaticPath(%q) = %q, %d; want %q, %d", tc.in, got, v, tc.out, tc.v)
		}
	}
}

func TestStaticSymlinkRootFlip(t *testing.T) {
	base := t.TempDir()
	writeFile(t, filepath.Join(base, "releases/v1/index.html"), []byte("release one\n"))
	writeFile(t, filepath.Join(base, "releases/v2/index.html"), []byte("release two\n"))
	writeFile(t, filepath.Join(base, "releases/v2/new.js"), []byte("only in two\n"))
	symlink(t, "releases/v1", filepath.Join(base, "current"))
	s := startStatic(t, "/", Config{Root: filepath.Join(base, "current")}, func(h *staticHandler) {
		h.ttl = int64(20 * time.Millisecond)
	})
	if r := s.get(t, "/"); !strings.Contains(string(r.Body()), "release one") {
		t.Fatalf("before flip: %d %q", r.StatusCode(), r.Body())
	}
	if r := s.get(t, "/new.js"); r.StatusCode() != 404 {
		t.Fatalf("new.js before flip: %d", r.StatusCode())
	}
	// Deploy: atomically repoint the symlink.
	symlink(t, "releases/v2", filepath.Join(base, "current.tmp"))
	if err := os.Rename(filepath.Join(base, "current.tmp"), filepath.Join(base, "current")); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 20*time.Second, "index from release two", func() bool {
		return strings.Contains(string(s.get(t, "/").Body()), "release two")
	})
	wait.Until(t, 20*time.Second, "new.js from release two", func() bool { return s.get(t, "/new.js").StatusCode() == 200 })
}

func TestStaticSymlinkRetargetedOutside(t *testing.T) {
	root := testSite(t)
	link := filepath.Join(root, "moving.txt")
	symlink(t, "robots.txt", link)
	s := startStatic(t, "/", Config{Root: root}, func(h *staticHandler) {
		h.ttl = int64(20 * time.Millisecond)
	})
	if r := s.get(t, "/moving.txt"); r.StatusCode() != 200 {
		t.Fatalf("in-root symlink: %d", r.StatusCode())
	}
	symlink(t, "../outside/secret.txt", link+".tmp")
	if err := os.Rename(link+".tmp", link); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 20*time.Second, "cached symlink to be refused after it left the root", func() bool {
		r := s.get(t, "/moving.txt")
		if leaked(string(r.Body())) {
			t.Fatalf("leaked after retarget: %q", r.Body())
		}
		return r.StatusCode() == 404
	})
}
