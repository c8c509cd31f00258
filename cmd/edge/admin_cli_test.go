package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/edge-server/edge/internal/config"
	"github.com/edge-server/edge/proxy"
)

// daemon is a real edge built from a YAML config through buildServices, with two
// real upstreams, listening on loopback and on an admin unix socket.
type daemon struct {
	proxy      *proxy.Server
	socket     string
	configPath string
	blue       string
	green      string
}

func upstreamServer(t *testing.T, color string, healthy bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/health" && !healthy {
			ctx.SetStatusCode(500)
			return
		}
		ctx.SetBodyString(color)
	}}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { _ = srv.Shutdown(); ln.Close() })
	return ln.Addr().String()
}

func startDaemon(t *testing.T, greenHealthy bool) *daemon {
	t.Helper()
	return startDaemonWith(t, upstreamServer(t, "blue", true), upstreamServer(t, "green", greenHealthy))
}

// startDaemonWith runs the proxy of a one-app config with the given blue and green
// upstream addresses.
func startDaemonWith(t *testing.T, blue, green string) *daemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "edgecli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &daemon{socket: filepath.Join(dir, "admin.sock"), configPath: filepath.Join(dir, "edge.yaml"),
		blue: blue, green: green}
	yaml := fmt.Sprintf(`state_dir: %s
admin_socket: %s
metrics: ""
listen: { http: "127.0.0.1:0", https: "" }
apps:
  web:
    blue: %s
    green: %s
    health: { path: /health, interval: 300ms, timeout: 300ms, rise: 2, fall: 2 }
    drain: 2s
sites:
  - hosts: [a.example]
    routes:
      - { path: /, app: web }
`, dir, d.socket, d.blue, d.green)
	if err := os.WriteFile(d.configPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(d.configPath)
	if err != nil {
		t.Fatal(err)
	}
	services, err := buildServices(cfg, zap.NewNop(), mustDaemon(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	d.proxy = services[0].(*proxy.Server)
	if err := d.proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.proxy.Shutdown(context.Background()) })
	return d
}

// TestCLISwitchToDeadLiveColor: "edge switch blue" while blue is live but down exits
// non-zero and says so; a deploy script must not read "nothing to do".
func TestCLISwitchToDeadLiveColor(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	d := startDaemonWith(t, dead, upstreamServer(t, "green", true))
	code, out, errs := runEdge("switch", "blue", "--timeout", "1s", "--socket", d.socket)
	prefix := "edge switch: web is already on blue (" + dead + "), but blue is not healthy: "
	if code != 1 || out != "" || !strings.HasPrefix(errs, prefix) || !strings.HasSuffix(errs, "; switch to green once it is ready\n") {
		t.Fatalf("switch to the dead live color: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, errs = runEdge("switch", "green", "--socket", d.socket)
	if code != 0 || !strings.HasPrefix(out, "web now serves from green") {
		t.Fatalf("switch away from the dead color: exit %d %q %q", code, out, errs)
	}
}

func runEdge(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runCLI(args, &out, &errb)
	return code, out.String(), errb.String()
}

func fetch(t *testing.T, addr string) string {
	t.Helper()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://a.example/")
	c := &fasthttp.HostClient{Addr: addr}
	if err := c.Do(req, resp); err != nil {
		t.Fatal(err)
	}
	return string(resp.Body())
}

func TestCLISwitchStatusRollback(t *testing.T) {
	d := startDaemon(t, true)
	addr := d.proxy.HTTPAddr()
	if got := fetch(t, addr); got != "blue" {
		t.Fatalf("before: %q", got)
	}
	code, out, errs := runEdge("status", "--socket", d.socket)
	if code != 0 || !strings.Contains(out, "web: live blue, previous none yet") || !strings.Contains(out, "→ blue") || !strings.Contains(out, d.green) {
		t.Fatalf("status %d\n%s%s", code, out, errs)
	}
	// Flags after the color, socket found through --config.
	code, out, errs = runEdge("switch", "green", "--timeout", "5s", "--config", d.configPath)
	if code != 0 || !strings.HasPrefix(out, "web now serves from green ("+d.green+"); blue drained in") {
		t.Fatalf("switch %d %q %q", code, out, errs)
	}
	if got := fetch(t, addr); got != "green" {
		t.Fatalf("after switch: %q", got)
	}
	code, out, _ = runEdge("status", "--json", "--socket", d.socket)
	var st proxy.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Apps[0].Active != "green" || st.Apps[0].Previous != "blue" ||
		st.Apps[0].Slots.Green.Addr != d.green {
		t.Fatalf("status --json %d %s", code, out)
	}
	code, out, _ = runEdge("switch", "--app", "web", "green", "--socket", d.socket)
	if code != 0 || !strings.Contains(out, "already on green") {
		t.Fatalf("no-op switch %d %q", code, out)
	}
	code, out, errs = runEdge("rollback", "--socket", d.socket)
	if code != 0 || !strings.HasPrefix(out, "web now serves from blue") {
		t.Fatalf("rollback %d %q %q", code, out, errs)
	}
	if got := fetch(t, addr); got != "blue" {
		t.Fatalf("after rollback: %q", got)
	}
}

func TestCLISwitchRefused(t *testing.T) {
	d := startDaemon(t, false)
	code, out, errs := runEdge("switch", "green", "--timeout", "3s", "--socket", d.socket)
	want := fmt.Sprintf("edge switch: green (%s) is not healthy: GET /health answered 500; traffic stays on blue\n", d.green)
	if code != 1 || out != "" || errs != want {
		t.Fatalf("got %d %q %q\nwant %q", code, out, errs, want)
	}
	if got := fetch(t, d.proxy.HTTPAddr()); got != "blue" {
		t.Fatalf("traffic moved to %q", got)
	}
	code, _, errs = runEdge("rollback", "--socket", d.socket)
	if code != 1 || !strings.Contains(errs, "never been switched") {
		t.Fatalf("rollback %d %q", code, errs)
	}
	code, _, errs = runEdge("switch", "green", "--app", "nope", "--socket", d.socket)
	if code != 1 || !strings.Contains(errs, `no app named "nope"`) {
		t.Fatalf("unknown app %d %q", code, errs)
	}
}

func TestCLIUsageAndNoDaemon(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "admin.sock")
	badYAML := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badYAML, []byte("admin_socket: [\n"), 0o600)
	cfgFile := filepath.Join(dir, "edge.yaml")
	os.WriteFile(cfgFile, []byte("admin_socket: "+missing+"\n"), 0o600)
	tests := []struct {
		args []string
		code int
		says string
	}{
		{[]string{"switch"}, 2, "name exactly one color"},
		{[]string{"switch", "purple", "--socket", missing}, 2, `"purple" is not a color`},
		{[]string{"switch", "green", "blue", "--socket", missing}, 2, "exactly one color"},
		{[]string{"switch", "green", "--timeout", "-1s", "--socket", missing}, 2, "--timeout must be"},
		{[]string{"switch", "green", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"rollback", "extra"}, 2, "unexpected argument"},
		{[]string{"status", "--socket", missing}, 1, "edge is not running: nothing answers on " + missing},
		{[]string{"switch", "green", "--socket", missing}, 1, "edge is not running"},
		{[]string{"status", "--config", cfgFile}, 1, "nothing answers on " + missing},
		{[]string{"status", "--config", filepath.Join(dir, "none.yaml")}, 1, "cannot read"},
		{[]string{"status", "--config", badYAML}, 1, "cannot read admin_socket"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, errs := runEdge(tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.says) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Fatalf("got %d %q, want %d and one line saying %q", code, errs, tc.code, tc.says)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the demo goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- runDemo(ctx, "127.0.0.1:0", "en", &out, zap.NewNop()) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Press Ctrl-C") {
		if time.Now().After(deadline) {
			t.Fatalf("demo did not start: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	text := out.String()
	var addr, sock string
	fmt.Sscanf(text[strings.Index(text, "http://")+len("http://"):], "%s", &addr)
	fmt.Sscanf(text[strings.Index(text, "--socket ")+len("--socket "):], "%s", &sock)
	if !strings.Contains(fetch(t, addr), ">blue<") {
		t.Fatalf("demo page is not blue")
	}
	waitForHTTP(t, "http://"+addr+"/chat/") // the chat page is served too
	code, outS, errs := runEdge("switch", "green", "--socket", sock)
	if code != 0 || !strings.Contains(outS, "demo now serves from green") {
		t.Fatalf("switch %d %q %q", code, outS, errs)
	}
	if !strings.Contains(fetch(t, addr), ">green<") {
		t.Fatalf("demo page is not green after the switch")
	}
	if code, outS, errs := runEdge("chat", "bans", "--socket", sock); code != 0 || outS != "no active bans\n" {
		t.Fatalf("chat bans on the demo: %d %q %q", code, outS, errs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(sock)); !os.IsNotExist(err) {
		t.Fatalf("demo left %s behind", filepath.Dir(sock))
	}
}

func TestProxyConfigWiring(t *testing.T) {
	cfg := config.Default("x.yaml")
	cfg.StateDir = "/var/lib/edge-test"
	pc := proxyConfig(cfg)
	if pc.StateFile != "/var/lib/edge-test/state.json" || pc.AdminSocket != config.DefaultAdminSocket || !pc.AccessLog {
		t.Fatalf("%+v", pc)
	}
}

func mustDaemon(t *testing.T, cfg *config.Config) *opsDaemon {
	t.Helper()
	d, err := newOpsDaemon(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return d
}
