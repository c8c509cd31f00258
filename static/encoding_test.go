package static

import (
	"bytes"
	"compress/gzip"
	"io"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/valyala/fasthttp"
)

func decode(t *testing.T, enc string, body []byte) []byte {
	t.Helper()
	switch enc {
	case "":
		return body
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("gzip body: %v", err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("gzip body: %v", err)
		}
		return b
	case "br":
		b, err := fasthttp.AppendUnbrotliBytes(nil, body)
		if err != nil {
			t.Fatalf("br body: %v", err)
		}
		return b
	}
	t.Fatalf("unexpected Content-Encoding %q", enc)
	return nil
}

func TestStaticPrecompressed(t *testing.T) {
	root := testSite(t)
	s := startStatic(t, "/", Config{Root: root, Compress: true}, nil)
	js := readFile(t, filepath.Join(root, "assets/index-3f2a9c1b.js"))
	css := readFile(t, filepath.Join(root, "assets/style-BRcx7a2Q.css"))
	size := func(p string) string { return strconv.Itoa(len(readFile(t, filepath.Join(root, p)))) }
	tests := []struct {
		path, accept, enc, length string
		orig                      []byte
	}{
		{"/assets/index-3f2a9c1b.js", "", "", size("assets/index-3f2a9c1b.js"), js},
		{"/assets/index-3f2a9c1b.js", "gzip", "gzip", size("assets/index-3f2a9c1b.js.gz"), js},
		{"/assets/index-3f2a9c1b.js", "br", "br", size("assets/index-3f2a9c1b.js.br"), js},
		{"/assets/index-3f2a9c1b.js", "gzip, deflate, br, zstd", "br", size("assets/index-3f2a9c1b.js.br"), js},
		{"/assets/index-3f2a9c1b.js", "br;q=0.5, gzip;q=0.8", "gzip", size("assets/index-3f2a9c1b.js.gz"), js},
		{"/assets/index-3f2a9c1b.js", "br;q=0, gzip", "gzip", size("assets/index-3f2a9c1b.js.gz"), js},
		{"/assets/index-3f2a9c1b.js", "br;q=0, gzip;q=0", "", size("assets/index-3f2a9c1b.js"), js},
		{"/assets/index-3f2a9c1b.js", "*", "br", size("assets/index-3f2a9c1b.js.br"), js},
		{"/assets/index-3f2a9c1b.js", "*;q=0.1, br;q=0", "gzip", size("assets/index-3f2a9c1b.js.gz"), js},
		{"/assets/index-3f2a9c1b.js", "identity;q=1, gzip;q=0.5", "", size("assets/index-3f2a9c1b.js"), js},
		{"/assets/index-3f2a9c1b.js", "GZIP", "gzip", size("assets/index-3f2a9c1b.js.gz"), js},
		{"/assets/index-3f2a9c1b.js", "x-gzip", "gzip", size("assets/index-3f2a9c1b.js.gz"), js},
		{"/assets/index-3f2a9c1b.js", "deflate, zstd", "", size("assets/index-3f2a9c1b.js"), js},
		{"/assets/index-3f2a9c1b.js", "gzip;q=abc", "", size("assets/index-3f2a9c1b.js"), js},
		{"/assets/index-3f2a9c1b.js", "gzip;q=2", "", size("assets/index-3f2a9c1b.js"), js},
		{"/assets/index-3f2a9c1b.js", "brotli, gzipx", "", size("assets/index-3f2a9c1b.js"), js},
		// Only a .gz sibling: a br client gets the sibling gzip, not an on-the-fly br.
		{"/assets/style-BRcx7a2Q.css", "br, gzip", "gzip", size("assets/style-BRcx7a2Q.css.gz"), css},
		{"/assets/style-BRcx7a2Q.css", "br", "", size("assets/style-BRcx7a2Q.css"), css},
	}
	for _, tc := range tests {
		t.Run(tc.path+"/"+tc.accept, func(t *testing.T) {
			var hdrs []string
			if tc.accept != "" {
				hdrs = append(hdrs, "Accept-Encoding: "+tc.accept)
			}
			r := s.get(t, tc.path, hdrs...)
			if r.StatusCode() != 200 {
				t.Fatalf("status %d", r.StatusCode())
			}
			if got := header(r, "Content-Encoding"); got != tc.enc {
				t.Fatalf("Content-Encoding %q, want %q", got, tc.enc)
			}
			if got := header(r, "Content-Length"); got != tc.length {
				t.Errorf("Content-Length %s, want %s (the sibling file's size)", got, tc.length)
			}
			if got := header(r, "Vary"); got != "Accept-Encoding" {
				t.Errorf("Vary %q", got)
			}
			if got := header(r, "Accept-Ranges"); (got == "bytes") != (tc.enc == "") {
				t.Errorf("Accept-Ranges %q with Content-Encoding %q", got, tc.enc)
			}
			if ct := header(r, "Content-Type"); ct != string(staticTypes[filepath.Ext(tc.path)]) {
				t.Errorf("Content-Type %q is not the original file's", ct)
			}
			if !bytes.Equal(decode(t, tc.enc, r.Body()), tc.orig) {
				t.Errorf("decoded body differs from the original file")
			}
		})
	}
}

func TestStaticOnTheFlyCompression(t *testing.T) {
	root := testSite(t)
	on := startStatic(t, "/", Config{Root: root, Compress: true}, nil)
	off := startStatic(t, "/", Config{Root: root, Compress: false}, nil)
	big := readFile(t, filepath.Join(root, "big.txt"))
	tests := []struct {
		srv          *staticServer
		path, accept string
		enc          string
		vary         bool
	}{
		{on, "/big.txt", "gzip", "gzip", true},
		{on, "/big.txt", "br", "br", true},
		{on, "/big.txt", "gzip, br", "br", true},
		{on, "/big.txt", "", "", true},
		{on, "/index.html", "gzip", "", false}, // 272 bytes: below the threshold
		{on, "/image.png", "gzip", "", false},  // not a text type
		{on, "/huge.txt", "gzip", "", false},   // above staticMaxMemFile: streamed as is
		{off, "/big.txt", "gzip, br", "", false},
		{off, "/assets/index-3f2a9c1b.js", "gzip", "gzip", true}, // siblings do not need Compress
	}
	writeFile(t, filepath.Join(root, "huge.txt"), bytes.Repeat([]byte("z"), staticMaxMemFile+1))
	for _, tc := range tests {
		t.Run(tc.path+"/"+tc.accept, func(t *testing.T) {
			for i := range 3 { // the compressed result is cached: same answer each time
				hdrs := []string{}
				if tc.accept != "" {
					hdrs = append(hdrs, "Accept-Encoding: "+tc.accept)
				}
				r := tc.srv.get(t, tc.path, hdrs...)
				if r.StatusCode() != 200 {
					t.Fatalf("status %d", r.StatusCode())
				}
				if got := header(r, "Content-Encoding"); got != tc.enc {
					t.Fatalf("request %d: Content-Encoding %q, want %q", i, got, tc.enc)
				}
				if got := header(r, "Vary") == "Accept-Encoding"; got != tc.vary {
					t.Errorf("Vary present %v, want %v", got, tc.vary)
				}
				if tc.path == "/big.txt" {
					if !bytes.Equal(decode(t, tc.enc, r.Body()), big) {
						t.Fatalf("decoded body differs")
					}
					if tc.enc != "" && len(r.Body()) >= len(big)/4 {
						t.Errorf("compressed %d of %d bytes", len(r.Body()), len(big))
					}
				}
			}
		})
	}
	e := on.h.cache.get([]byte("/big.txt"))
	if e == nil || e.representation(encGzip) == nil || e.representation(encBrotli) == nil {
		t.Fatalf("compressed copies were not cached")
	}
}

func TestParseAcceptEncoding(t *testing.T) {
	all := [numEncodings]bool{true, true, true}
	gzOnly := [numEncodings]bool{true, false, true}
	tests := []struct {
		h    string
		have *[numEncodings]bool
		want encoding
	}{
		{"", &all, encIdentity},
		{"gzip", &all, encGzip},
		{"br", &all, encBrotli},
		{"gzip, br", &all, encBrotli},
		{"br;q=0.9, gzip", &all, encGzip},
		{"br;q=0.9 , gzip;q=0.95", &all, encGzip},
		{"br; q=0.9, gzip; Q=0.85", &all, encBrotli},
		{"br;q=1.0, gzip;q=1.000", &all, encBrotli},
		{"br;q=0, gzip;q=0.", &all, encIdentity},
		{"br;q=0.001", &all, encBrotli},
		{"br;q=1.001", &all, encIdentity},
		{"br;q=.5", &all, encIdentity},
		{"br;q=0.5000", &all, encIdentity},
		{"br;level=3;q=0.5", &all, encBrotli},
		{"*", &all, encBrotli},
		{"*;q=0", &all, encIdentity},
		{"*, br;q=0", &all, encGzip},
		{"identity;q=0.5, gzip;q=0.4", &all, encIdentity},
		{"identity;q=0.5, gzip;q=0.5", &all, encGzip},
		{"identity, gzip", &all, encGzip},
		{"br", &gzOnly, encIdentity},
		{"br, gzip", &gzOnly, encGzip},
		{",,,;;;", &all, encIdentity},
		{"\t gzip \t", &all, encGzip},
		{"gzip;q=", &all, encIdentity},
	}
	for _, tc := range tests {
		if got := pickEncoding([]byte(tc.h), tc.have); got != tc.want {
			t.Errorf("pick(%q) = %d, want %d", tc.h, got, tc.want)
		}
	}
}

func TestParseRangeUnit(t *testing.T) {
	tests := []struct {
		h        string
		size     int64
		start, n int64
		verdict  rangeVerdict
	}{
		{"bytes=0-0", 10, 0, 1, rangeSatisfiable},
		{"BYTES=2-3", 10, 2, 2, rangeSatisfiable},
		{"bytes=-3", 10, 7, 3, rangeSatisfiable},
		{"bytes=8-", 10, 8, 2, rangeSatisfiable},
		{"bytes=0-", 0, 0, 0, rangeUnsatisfiable},
		{"bytes=-1", 0, 0, 0, rangeUnsatisfiable},
		{"bytes=10-", 10, 0, 0, rangeUnsatisfiable},
		{"bytes=-", 10, 0, 0, rangeIgnore},
		{"bytes=", 10, 0, 0, rangeIgnore},
		{"bytes", 10, 0, 0, rangeIgnore},
		{"bytes=1-2,3-4", 10, 0, 0, rangeIgnore},
		{"bytes=+1-2", 10, 0, 0, rangeIgnore},
		{"bytes=0x1-2", 10, 0, 0, rangeIgnore},
		{"bytes=1234567890123456789-", 10, 0, 0, rangeIgnore},
	}
	for _, tc := range tests {
		s, n, v := parseRange([]byte(tc.h), tc.size)
		if s != tc.start || n != tc.n || v != tc.verdict {
			t.Errorf("parseRange(%q, %d) = %d, %d, %d; want %d, %d, %d", tc.h, tc.size, s, n, v, tc.start, tc.n, tc.verdict)
		}
	}
}
