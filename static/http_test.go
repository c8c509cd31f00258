package static

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestStaticConditional(t *testing.T) {
	root := testSite(t)
	s := startStatic(t, "/", Config{Root: root, Compress: true}, nil)
	first := s.get(t, "/index.html")
	etag, lastMod := header(first, "ETag"), header(first, "Last-Modified")
	if etag == "" || etag[0] != '"' || lastMod == "" {
		t.Fatalf("ETag %q Last-Modified %q", etag, lastMod)
	}
	mod, err := time.Parse(httpDate, lastMod)
	if err != nil {
		t.Fatalf("Last-Modified %q: %v", lastMod, err)
	}
	later := mod.Add(time.Hour).UTC().Format(httpDate)
	earlier := mod.Add(-time.Hour).UTC().Format(httpDate)
	tests := []struct {
		name    string
		headers []string
		status  int
	}{
		{"no validators", nil, 200},
		{"etag", []string{"If-None-Match: " + etag}, 304},
		{"weak etag", []string{"If-None-Match: W/" + etag}, 304},
		{"etag in list", []string{`If-None-Match: "nope", ` + etag + `, "other"`}, 304},
		{"star", []string{"If-None-Match: *"}, 304},
		{"other etag", []string{`If-None-Match: "nope"`}, 200},
		{"garbage etag", []string{"If-None-Match: ,,, \t ,"}, 200},
		{"ims exact", []string{"If-Modified-Since: " + lastMod}, 304},
		{"ims later", []string{"If-Modified-Since: " + later}, 304},
		{"ims earlier", []string{"If-Modified-Since: " + earlier}, 200},
		{"ims invalid", []string{"If-Modified-Since: yesterday-ish"}, 200},
		{"inm wins over ims", []string{`If-None-Match: "nope"`, "If-Modified-Since: " + lastMod}, 200},
		{"inm match with stale ims", []string{"If-None-Match: " + etag, "If-Modified-Since: " + earlier}, 304},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.get(t, "/index.html", tc.headers...)
			if r.StatusCode() != tc.status {
				t.Fatalf("status %d, want %d", r.StatusCode(), tc.status)
			}
			if tc.status == 304 {
				if len(r.Body()) != 0 {
					t.Errorf("304 with a body")
				}
				if header(r, "ETag") != etag || header(r, "Cache-Control") != "no-cache" {
					t.Errorf("304 headers: ETag %q Cache-Control %q", header(r, "ETag"), header(r, "Cache-Control"))
				}
				if ct := header(r, "Content-Type"); ct != "" && ct != "text/html; charset=utf-8" {
					t.Errorf("304 Content-Type %q would overwrite the cached one", ct)
				}
			}
		})
	}

	// Each coding is its own representation with its own ETag.
	gz := s.get(t, "/assets/index-3f2a9c1b.js", "Accept-Encoding: gzip")
	br := s.get(t, "/assets/index-3f2a9c1b.js", "Accept-Encoding: br")
	id := s.get(t, "/assets/index-3f2a9c1b.js")
	tags := map[string]bool{header(gz, "ETag"): true, header(br, "ETag"): true, header(id, "ETag"): true}
	if len(tags) != 3 {
		t.Fatalf("ETags not distinct per coding: %v", tags)
	}
	r := s.get(t, "/assets/index-3f2a9c1b.js", "Accept-Encoding: gzip", "If-None-Match: "+header(gz, "ETag"))
	if r.StatusCode() != 304 || header(r, "Vary") != "Accept-Encoding" {
		t.Errorf("gzip revalidation: %d, Vary %q", r.StatusCode(), header(r, "Vary"))
	}
	r = s.get(t, "/assets/index-3f2a9c1b.js", "If-None-Match: "+header(gz, "ETag"))
	if r.StatusCode() != 200 {
		t.Errorf("identity request with the gzip ETag: %d, want 200", r.StatusCode())
	}
}

func TestStaticRanges(t *testing.T) {
	root := testSite(t)
	content := make([]byte, 3<<20+17) // bigger than staticMaxMemFile: streamed
	for i := range content {
		content[i] = byte(i*7 + i/251)
	}
	writeFile(t, filepath.Join(root, "huge.bin"), content)
	small := readFile(t, filepath.Join(root, "image.png"))
	s := startStatic(t, "/", Config{Root: root, Compress: true}, nil)
	etag := map[string]string{}
	lastMod := map[string]string{}
	for _, p := range []string{"/huge.bin", "/image.png"} {
		r := s.get(t, p)
		etag[p], lastMod[p] = header(r, "ETag"), header(r, "Last-Modified")
	}
	type tcase struct {
		name   string
		hdrs   []string
		status int
		start  int // expected slice of content for 206
		end    int // inclusive
	}
	cases := func(size int, p string) []tcase {
		return []tcase{
			{"first byte", []string{"Range: bytes=0-0"}, 206, 0, 0},
			{"prefix", []string{"Range: bytes=0-99"}, 206, 0, 99},
			{"middle", []string{"Range: bytes=1000-1999"}, 206, 1000, 1999},
			{"open end", []string{"Range: bytes=100-"}, 206, 100, size - 1},
			{"suffix", []string{"Range: bytes=-50"}, 206, size - 50, size - 1},
			{"suffix longer than file", []string{"Range: bytes=-99999999"}, 206, 0, size - 1},
			{"end past size clamps", []string{"Range: bytes=10-999999999"}, 206, 10, size - 1},
			{"spaces", []string{"Range: bytes= 5 - 9 "}, 206, 5, 9},
			{"last byte", []string{"Range: bytes=" + strconv.Itoa(size-1) + "-"}, 206, size - 1, size - 1},
			{"start at size", []string{"Range: bytes=" + strconv.Itoa(size) + "-"}, 416, 0, 0},
			{"start past size", []string{"Range: bytes=999999999-"}, 416, 0, 0},
			{"zero suffix", []string{"Range: bytes=-0"}, 416, 0, 0},
			{"reversed", []string{"Range: bytes=9-5"}, 200, 0, size - 1},
			{"multiple ranges", []string{"Range: bytes=0-1,5-6"}, 200, 0, size - 1},
			{"other unit", []string{"Range: items=0-1"}, 200, 0, size - 1},
			{"garbage", []string{"Range: bytes=abc"}, 200, 0, size - 1},
			{"no dash", []string{"Range: bytes=5"}, 200, 0, size - 1},
			{"huge numbers", []string{"Range: bytes=99999999999999999999999-"}, 200, 0, size - 1},
			{"negative", []string{"Range: bytes=-5-10"}, 200, 0, size - 1},
			{"if-range etag ok", []string{"Range: bytes=0-9", "If-Range: " + etag[p]}, 206, 0, 9},
			{"if-range etag stale", []string{"Range: bytes=0-9", `If-Range: "old"`}, 200, 0, size - 1},
			{"if-range weak never", []string{"Range: bytes=0-9", "If-Range: W/" + etag[p]}, 200, 0, size - 1},
			{"if-range date ok", []string{"Range: bytes=0-9", "If-Range: " + lastMod[p]}, 206, 0, 9},
			{"if-range date stale", []string{"Range: bytes=0-9", "If-Range: Thu, 01 Jan 1970 00:00:00 GMT"}, 200, 0, size - 1},
			{"range with gzip accepted", []string{"Range: bytes=0-9", "Accept-Encoding: gzip, br"}, 206, 0, 9},
		}
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{"/huge.bin", content}, {"/image.png", small}} {
		for _, tc := range cases(len(f.data), f.path) {
			t.Run(f.path+"/"+tc.name, func(t *testing.T) {
				r := s.get(t, f.path, tc.hdrs...)
				if r.StatusCode() != tc.status {
					t.Fatalf("status %d, want %d", r.StatusCode(), tc.status)
				}
				switch tc.status {
				case 206:
					want := f.data[tc.start : tc.end+1]
					if !bytes.Equal(r.Body(), want) {
						t.Fatalf("body: %d bytes, want %d", len(r.Body()), len(want))
					}
					cr := "bytes " + strconv.Itoa(tc.start) + "-" + strconv.Itoa(tc.end) + "/" + strconv.Itoa(len(f.data))
					if header(r, "Content-Range") != cr {
						t.Errorf("Content-Range %q, want %q", header(r, "Content-Range"), cr)
					}
					if header(r, "Content-Encoding") != "" {
						t.Errorf("range served with Content-Encoding %q", header(r, "Content-Encoding"))
					}
				case 416:
					if want := "bytes */" + strconv.Itoa(len(f.data)); header(r, "Content-Range") != want {
						t.Errorf("Content-Range %q, want %q", header(r, "Content-Range"), want)
					}
				case 200:
					if !bytes.Equal(r.Body(), f.data) {
						t.Fatalf("full body: %d bytes, want %d", len(r.Body()), len(f.data))
					}
				}
			})
		}
	}
}

func TestStaticEmptyFile(t *testing.T) {
	root := testSite(t)
	writeFile(t, filepath.Join(root, "empty.txt"), nil)
	s := startStatic(t, "/", Config{Root: root, Compress: true}, nil)
	r := s.get(t, "/empty.txt", "Accept-Encoding: gzip")
	if r.StatusCode() != 200 || len(r.Body()) != 0 || header(r, "Content-Length") != "0" {
		t.Fatalf("empty file: %d, %d bytes, Content-Length %q", r.StatusCode(), len(r.Body()), header(r, "Content-Length"))
	}
	if r := s.get(t, "/empty.txt", "Range: bytes=0-"); r.StatusCode() != 416 {
		t.Errorf("range of empty file: %d, want 416", r.StatusCode())
	}
}

func TestStaticBigFileStreaming(t *testing.T) {
	root := testSite(t)
	content := bytes.Repeat([]byte("0123456789abcdef"), (2<<20)/16+3)
	writeFile(t, filepath.Join(root, "huge.txt"), content)
	s := startStatic(t, "/", Config{Root: root, Compress: true}, nil)
	// Concurrent GETs exercise the descriptor pool; each must get the whole file.
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			var c fasthttp.Client
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + s.addr + "/huge.txt")
			req.Header.Set("Accept-Encoding", "gzip, br") // too big for on-the-fly: identity
			for range 5 {
				if err := c.DoTimeout(req, resp, 30*time.Second); err != nil {
					errs <- err
					return
				}
				if resp.StatusCode() != 200 || !bytes.Equal(resp.Body(), content) || len(resp.Header.ContentEncoding()) != 0 {
					errs <- os.ErrInvalid
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent big GET: %v", err)
		}
	}
	// A 1 MiB + 1 file is streamed, not kept in memory.
	e := s.h.cache.get([]byte("/huge.txt"))
	if e == nil || e.reps[encIdentity].inMemory {
		t.Fatalf("huge.txt should be cached as a streamed file")
	}
}

func TestStaticMemoryBudget(t *testing.T) {
	root := testSite(t)
	s := startStatic(t, "/", Config{Root: root, Compress: true}, func(h *staticHandler) {
		h.cache.memLimit = 3000 // only a couple of small files fit; the rest are streamed
	})
	for _, p := range []string{"/index.html", "/assets/index-3f2a9c1b.js", "/image.png", "/big.txt", "/robots.txt"} {
		want := readFile(t, filepath.Join(root, p))
		for range 2 {
			r := s.get(t, p)
			if r.StatusCode() != 200 || !bytes.Equal(r.Body(), want) {
				t.Fatalf("%s over budget: %d, %d bytes (want %d)", p, r.StatusCode(), len(r.Body()), len(want))
			}
		}
		r := s.get(t, p, "Accept-Encoding: gzip")
		if r.StatusCode() != 200 {
			t.Fatalf("%s gzip over budget: %d", p, r.StatusCode())
		}
	}
	if used := s.h.cache.memUsed.Load(); used > 3000 || used < 0 {
		t.Errorf("memory used %d outside [0, 3000]", used)
	}
}

const httpDate = "Mon, 02 Jan 2006 15:04:05 GMT"

// With header-name normalizing off, names arrive as the client wrote them; the
// handler must still see its request headers.
func TestStaticHeaderNamesNotNormalized(t *testing.T) {
	root := testSite(t)
	s := startStaticServer(t, "/", Config{Root: root, Compress: true}, nil,
		&fasthttp.Server{DisableHeaderNamesNormalizing: true})
	first := s.get(t, "/index.html")
	tests := []struct {
		hdr    string
		status int
		check  func(r *fasthttp.Response) bool
	}{
		{"range: bytes=0-4", 206, func(r *fasthttp.Response) bool { return string(r.Body()) == "<!doc" }},
		{"if-none-match: " + header(first, "ETag"), 304, nil},
		{"IF-MODIFIED-SINCE: " + header(first, "Last-Modified"), 304, nil},
		{"accept-encoding: gzip", 200, func(r *fasthttp.Response) bool { return header(r, "Content-Encoding") == "" }}, // index is small
	}
	for _, tc := range tests {
		r := s.get(t, "/index.html", tc.hdr)
		if r.StatusCode() != tc.status || (tc.check != nil && !tc.check(r)) {
			t.Errorf("%q: status %d", tc.hdr, r.StatusCode())
		}
	}
	r := s.get(t, "/big.txt", "accept-encoding: br")
	if r.StatusCode() != 200 || string(r.Header.Peek("Content-Encoding")) != "br" {
		t.Errorf("lower-case accept-encoding: %d %q", r.StatusCode(), r.Header.Peek("Content-Encoding"))
	}
}
