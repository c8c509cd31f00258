package static

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edge-server/edge/internal/wait"
)

func TestStaticInvalidation(t *testing.T) {
	root := testSite(t)
	huge := filepath.Join(root, "huge.bin")
	writeFile(t, huge, bytes.Repeat([]byte{'1'}, 2<<20))
	s := startStatic(t, "/", Config{Root: root, Compress: true}, func(h *staticHandler) {
		h.ttl = int64(20 * time.Millisecond)
	})
	body := func(p string, hdrs ...string) string { return string(s.get(t, p, hdrs...).Body()) }

	t.Run("atomic replace", func(t *testing.T) {
		old := s.get(t, "/index.html")
		replaceFile(t, filepath.Join(root, "index.html"), []byte("<p>NEW-DEPLOY</p>"))
		wait.Until(t, 20*time.Second, "new index.html", func() bool { return strings.Contains(body("/index.html"), "NEW-DEPLOY") })
		r := s.get(t, "/index.html", "If-None-Match: "+header(old, "ETag"))
		if r.StatusCode() != 200 || header(r, "ETag") == header(old, "ETag") {
			t.Errorf("old ETag still validates: %d %q", r.StatusCode(), header(r, "ETag"))
		}
	})
	t.Run("in-place write", func(t *testing.T) {
		p := filepath.Join(root, "robots.txt")
		if err := os.WriteFile(p, []byte("User-agent: *\nDisallow: /private\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// Make sure the mtime moves even on coarse-timestamp filesystems.
		future := time.Now().Add(time.Minute)
		if err := os.Chtimes(p, future, future); err != nil {
			t.Fatal(err)
		}
		wait.Until(t, 20*time.Second, "rewritten robots.txt", func() bool { return strings.Contains(body("/robots.txt"), "Disallow") })
	})
	t.Run("compressed copy follows the file", func(t *testing.T) {
		if got := decode(t, "gzip", []byte(body("/big.txt", "Accept-Encoding: gzip"))); !bytes.HasPrefix(got, []byte("compress me")) {
			t.Fatalf("unexpected big.txt")
		}
		replaceFile(t, filepath.Join(root, "big.txt"), bytes.Repeat([]byte("second version of the text. "), 300))
		wait.Until(t, 20*time.Second, "recompressed big.txt", func() bool {
			r := s.get(t, "/big.txt", "Accept-Encoding: gzip")
			return bytes.HasPrefix(decode(t, header(r, "Content-Encoding"), r.Body()), []byte("second version"))
		})
	})
	t.Run("sibling removed", func(t *testing.T) {
		if err := os.Remove(filepath.Join(root, "assets/index-3f2a9c1b.js.br")); err != nil {
			t.Fatal(err)
		}
		wait.Until(t, 20*time.Second, "gzip once the .br sibling is gone", func() bool {
			return header(s.get(t, "/assets/index-3f2a9c1b.js", "Accept-Encoding: br, gzip"), "Content-Encoding") == "gzip"
		})
	})
	t.Run("deleted", func(t *testing.T) {
		if s.get(t, "/data.json").StatusCode() != 200 {
			t.Fatal("data.json missing before delete")
		}
		if err := os.Remove(filepath.Join(root, "data.json")); err != nil {
			t.Fatal(err)
		}
		wait.Until(t, 20*time.Second, "404 after delete", func() bool { return s.get(t, "/data.json").StatusCode() == 404 })
		if e := s.h.cache.get([]byte("/data.json")); e != nil {
			t.Errorf("deleted file still cached")
		}
	})
	t.Run("created", func(t *testing.T) {
		if s.get(t, "/fresh.txt").StatusCode() != 404 {
			t.Fatal("fresh.txt exists too early")
		}
		writeFile(t, filepath.Join(root, "fresh.txt"), []byte("FRESH"))
		// Misses are never cached: visible on the very next request.
		if got := body("/fresh.txt"); got != "FRESH" {
			t.Errorf("new file: %q", got)
		}
	})
	t.Run("big streamed file replaced", func(t *testing.T) {
		if got := body("/huge.bin"); len(got) != 2<<20 || got[0] != '1' {
			t.Fatalf("huge.bin before: %d bytes", len(got))
		}
		replaceFile(t, huge, bytes.Repeat([]byte{'2'}, 2<<20+5))
		wait.Until(t, 20*time.Second, "new big file", func() bool {
			got := body("/huge.bin")
			if len(got) != 2<<20 && len(got) != 2<<20+5 {
				t.Fatalf("torn big file: %d bytes", len(got))
			}
			return len(got) == 2<<20+5 && got[0] == '2' && got[len(got)-1] == '2'
		})
	})
}

func TestStaticEntryLimit(t *testing.T) {
	root := testSite(t)
	for i := range 40 {
		writeFile(t, filepath.Join(root, "many", strconv.Itoa(i)+".txt"), []byte("file "+strconv.Itoa(i)))
	}
	s := startStatic(t, "/", Config{Root: root}, func(h *staticHandler) { h.cache.maxEntries = 8 })
	for round := range 2 {
		for i := range 40 {
			r := s.get(t, "/many/"+strconv.Itoa(i)+".txt")
			if r.StatusCode() != 200 || string(r.Body()) != "file "+strconv.Itoa(i) {
				t.Fatalf("round %d file %d: %d %q", round, i, r.StatusCode(), r.Body())
			}
		}
	}
	if n := s.h.cache.len(); n > 8 {
		t.Errorf("cache holds %d entries, limit 8", n)
	}
	// Memory accounting returns to what the remaining entries hold.
	var held int64
	s.h.cache.mu.RLock()
	for _, e := range s.h.cache.entries {
		e.mu.Lock()
		held += e.charged
		e.mu.Unlock()
	}
	s.h.cache.mu.RUnlock()
	if used := s.h.cache.memUsed.Load(); used != held {
		t.Errorf("memUsed %d, entries hold %d", used, held)
	}
}

func TestStaticIdleEviction(t *testing.T) {
	root := testSite(t)
	files := []string{"/index.html", "/robots.txt", "/data.json"}
	var budget int64
	for _, p := range files {
		budget += int64(len(readFile(t, filepath.Join(root, p))))
	}
	var fake atomic.Int64
	s := startStatic(t, "/", Config{Root: root}, func(h *staticHandler) {
		h.cache.memLimit = budget // exactly full after the three files
		h.cache.clock = func() int64 {
			if v := fake.Load(); v != 0 {
				return v
			}
			return h.clock()
		}
	})
	for _, p := range files {
		if s.get(t, p).StatusCode() != 200 {
			t.Fatal(p)
		}
	}
	if n := s.h.cache.len(); n != 3 {
		t.Fatalf("cache len %d", n)
	}
	if s.h.cache.tryCharge(1) {
		t.Fatalf("budget should be full")
	}
	// Long after, a budget miss sweeps entries nobody validated recently.
	fake.Store(s.h.clock() + int64(staticIdleEvict) + int64(time.Second))
	if !s.h.cache.charge(1) {
		t.Fatalf("charge after sweeping idle entries failed")
	}
	if n := s.h.cache.len(); n != 0 {
		t.Errorf("%d idle entries survived the sweep", n)
	}
}

func TestStaticMissingRoot(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "later")
	s := startStatic(t, "/", Config{Root: root, SPA: true}, func(h *staticHandler) {
		h.ttl = int64(20 * time.Millisecond)
	})
	if r := s.get(t, "/"); r.StatusCode() != 404 {
		t.Fatalf("missing root: %d", r.StatusCode())
	}
	writeFile(t, filepath.Join(root, "index.html"), []byte("ARRIVED"))
	wait.Until(t, 20*time.Second, "root to appear", func() bool { return string(s.get(t, "/x").Body()) == "ARRIVED" })

	// The constructor the router calls: bad arguments are errors, not panics.
	if _, err := newStaticHandler("assets/", Config{Root: root}, nil); err == nil {
		t.Errorf("prefix without leading slash accepted")
	}
	if _, err := newStaticHandler("", Config{Root: root}, nil); err == nil {
		t.Errorf("empty prefix accepted")
	}
	if _, err := newStaticHandler("/", Config{}, nil); err == nil {
		t.Errorf("empty root accepted")
	}
	if h, err := newStaticHandler("/assets/", Config{Root: root}, nil); err != nil || h == nil {
		t.Errorf("valid route refused: %v", err)
	}
}

// A lazy compression whose budget charge sweeps (and retires) its own entry must not
// deadlock, and must still answer.
func TestStaticCompressionSweepsOwnEntry(t *testing.T) {
	root := testSite(t)
	big := readFile(t, filepath.Join(root, "big.txt"))
	var fake atomic.Int64
	s := startStatic(t, "/", Config{Root: root, Compress: true}, func(h *staticHandler) {
		h.cache.memLimit = int64(len(big)) // the file fits, its compressed copy does not
		h.cache.clock = func() int64 {
			if v := fake.Load(); v != 0 {
				return v
			}
			return h.clock()
		}
	})
	if r := s.get(t, "/big.txt"); r.StatusCode() != 200 {
		t.Fatalf("status %d", r.StatusCode())
	}
	fake.Store(s.h.clock() + int64(staticIdleEvict) + int64(time.Second))
	done := make(chan *fasthttp.Response, 1)
	go func() { done <- s.get(t, "/big.txt", "Accept-Encoding: gzip") }()
	select {
	case r := <-done:
		if r.StatusCode() != 200 || !bytes.Equal(decode(t, header(r, "Content-Encoding"), r.Body()), big) {
			t.Fatalf("status %d", r.StatusCode())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("deadlock: compression charge retired its own entry")
	}
}
