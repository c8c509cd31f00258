package static

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCleanStaticPath checks the invariants every accepted path must satisfy, for
// arbitrary bytes (as if the server had not normalized anything).
func FuzzCleanStaticPath(f *testing.F) {
	for _, seed := range []string{
		"/", "/a/b.js", "//a//b/", "/../etc/passwd", "/a/./b", `/a\b`, "/a\x00b", "/.env",
		"/.well-known/x", "/%2e%2e/x", "/\xc0\xae", "/a/" + strings.Repeat("x", 300), "",
	} {
		f.Add([]byte(seed))
	}
	const root = "/srv/www"
	f.Fuzz(func(t *testing.T, p []byte) {
		in := bytes.Clone(p)
		out, v := cleanStaticPath(nil, p)
		if !bytes.Equal(p, in) {
			t.Fatalf("input modified")
		}
		if v != pathOK {
			if out != nil {
				t.Fatalf("verdict %d with output %q", v, out)
			}
			return
		}
		s := string(out)
		if !strings.HasPrefix(s, "/") || strings.Contains(s, "//") {
			t.Fatalf("not canonical: %q", s)
		}
		if len(s) > maxStaticPath+1 || !utf8.ValidString(s) {
			t.Fatalf("too long or invalid UTF-8: %q", s)
		}
		if strings.ContainsAny(s, "\\%\x00\x7f") {
			t.Fatalf("forbidden byte kept: %q", s)
		}
		for _, c := range []byte(s) {
			if c < 0x20 {
				t.Fatalf("control byte kept: %q", s)
			}
		}
		for i, seg := range strings.Split(strings.Trim(s, "/"), "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("dot segment kept: %q", s)
			}
			if strings.HasPrefix(seg, ".") && (i != 0 || seg != wellKnown) {
				t.Fatalf("hidden segment kept: %q", s)
			}
			if len(seg) > maxStaticSegment {
				t.Fatalf("segment too long: %q", s)
			}
		}
		if hasHiddenSegment(s) {
			t.Fatalf("hasHiddenSegment disagrees on %q", s)
		}
		// Joined to a root, it stays below the root.
		joined := filepath.Join(root, s)
		if joined != root && !strings.HasPrefix(joined, root+"/") {
			t.Fatalf("%q escapes the root as %q", s, joined)
		}
		// Idempotent, and canonical output is returned without copying.
		again, v2 := cleanStaticPath(nil, out)
		if v2 != pathOK || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q (%d)", out, again, v2)
		}
		if len(again) > 0 && &again[0] != &out[0] {
			t.Fatalf("canonical path was copied")
		}
	})
}

func FuzzParseStaticHeaders(f *testing.F) {
	for _, seed := range []string{"gzip, br;q=0.5", "*;q=0", "bytes=0-1", "bytes=-5", `"a", W/"b"`, ";;,,q=", "bytes= 1 - 2"} {
		f.Add([]byte(seed), int64(100))
	}
	f.Fuzz(func(t *testing.T, h []byte, size int64) {
		if size < 0 {
			size = -size
		}
		all := [numEncodings]bool{true, true, true}
		if e := pickEncoding(h, &all); e >= numEncodings {
			t.Fatalf("bad encoding %d", e)
		}
		start, n, v := parseRange(h, size)
		if v == rangeSatisfiable && (start < 0 || n <= 0 || start+n > size) {
			t.Fatalf("range %d+%d outside %d for %q", start, n, size, h)
		}
		_ = etagListMatches(h, []byte(`"x"`))
	})
}
