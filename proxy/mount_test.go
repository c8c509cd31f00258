package proxy

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// recordingMount stands in for static.Config: it records each build and answers with
// the prefix it was built for.
type recordingMount struct {
	mu     sync.Mutex
	builds []string
	err    error
}

func (m *recordingMount) NewHandler(prefix string, _ *zap.Logger) (fasthttp.RequestHandler, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	m.builds = append(m.builds, prefix)
	n := len(m.builds)
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString("mount " + prefix + " build " + string(rune('0'+n)))
	}, nil
}

func (m *recordingMount) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.builds)
}

// TestMountBuiltPerTable: a Static route's handler is built by its Mount at start and
// again on each reload (fresh state per build), and served over a real socket.
func TestMountBuiltPerTable(t *testing.T) {
	up := startUpstream(t, "blue")
	down := startUpstream(t, "green")
	cfg := oneApp(up, down, shortTempDir(t))
	m := &recordingMount{}
	cfg.Sites[0].Routes = append(cfg.Sites[0].Routes, RouteConfig{Path: "/files/", Static: m})
	s := startProxy(t, cfg)
	c := client(s)
	if code, body, _ := get(t, c, "x.test", "/files/a.txt"); code != 200 || body != "mount /files/ build 1" {
		t.Fatalf("GET /files/a.txt = %d %q", code, body)
	}
	if code, body, _ := get(t, c, "x.test", "/other"); code != 200 || strings.HasPrefix(body, "mount") {
		t.Fatalf("GET /other = %d %q, want the app", code, body)
	}
	if err := s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := get(t, c, "x.test", "/files/a.txt"); code != 200 || body != "mount /files/ build 2" {
		t.Fatalf("after reload GET /files/a.txt = %d %q", code, body)
	}
	if m.count() != 2 {
		t.Errorf("NewHandler called %d times, want 2", m.count())
	}
}

func TestMountErrorFailsBuild(t *testing.T) {
	cfg := withDefaults(Config{Sites: []SiteConfig{{Hosts: []string{"*"}, Routes: []RouteConfig{
		{Path: "/files/", Static: &recordingMount{err: errors.New("root directory is required")}},
	}}}})
	_, err := (&tableBuilder{cfg: &cfg, log: zap.NewNop()}).build()
	if err == nil || !strings.Contains(err.Error(), `static route "/files/": root directory is required`) {
		t.Fatalf("build error = %v", err)
	}
}
