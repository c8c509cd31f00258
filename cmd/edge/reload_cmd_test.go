package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-server/edge/internal/config"
)

// adminStandIn serves the admin API's POST /reload and GET /status on a real unix socket
// the way the proxy's admin server does: POST /reload calls the reload callback and
// answers 200 or 422 with {"error": …}. It lets the CLI be tested before the proxy lands.
func adminStandIn(t *testing.T, socket string, handler http.Handler) {
	t.Helper()
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(socket, 0o660); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

func reloadHandler(reload func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := reload(r.Context()); err != nil {
			w.WriteHeader(http.StatusUnprocessableEntity)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "config_rejected", "message": err.Error()}})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "config reloaded"})
	})
	return mux
}

func runEdgeCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runCLI(args, &out, &errb)
	return code, out.String(), errb.String()
}

func shortSocketDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "edge")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestReloadVerbReportsTheDaemonsVerdict(t *testing.T) {
	r, _, path, dir := newTestReloader(t)
	r.addProxy(&recordingProxy{}, r.config().Proxy)
	socket := filepath.Join(shortSocketDir(t), "admin.sock")
	adminStandIn(t, socket, reloadHandler(r.reloadConfig))

	writeReloadConfig(t, path, dir, "127.0.0.1:3001", "a.example.com", "")
	code, out, errOut := runEdgeCLI("reload", "--socket", socket)
	if code != 0 || out != "edge: config reloaded\n" || errOut != "" {
		t.Errorf("good config: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	writeReloadConfig(t, path, dir, "127.0.0.1:3001", "a.example.com", "apps_typo: {}\n")
	code, out, errOut = runEdgeCLI("reload", "--socket", socket)
	if code != 1 || out != "" || !strings.Contains(errOut, "rejected; edge keeps serving the previous one") ||
		!strings.Contains(errOut, "edge.yaml:13:") || !strings.Contains(errOut, "apps_typo") {
		t.Errorf("bad config: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if r.config().Proxy.Apps[0].Blue[0] != "127.0.0.1:3001" {
		t.Error("the rejected reload changed the running config")
	}
}

func TestReloadVerbFindsTheSocketInTheConfig(t *testing.T) {
	dir := shortSocketDir(t)
	socket := filepath.Join(dir, "admin.sock")
	adminStandIn(t, socket, reloadHandler(func(context.Context) error { return nil }))
	cfgPath := filepath.Join(dir, "edge.yaml")
	// Broken beyond validation but with a readable admin_socket: the daemon reports the
	// problem, the CLI must still find it.
	if err := os.WriteFile(cfgPath, []byte("admin_socket: "+socket+"\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runEdgeCLI("reload", "--config", cfgPath); code != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if got := opsDaemonSocket("", filepath.Join(dir, "missing.yaml")); got != config.DefaultAdminSocket {
		t.Errorf("missing config: socket %q", got)
	}
	_ = os.WriteFile(cfgPath, []byte("\t: ["), 0o644)
	if got := opsDaemonSocket("", cfgPath); got != config.DefaultAdminSocket {
		t.Errorf("unparseable config: socket %q", got)
	}
	if got := opsDaemonSocket("/x.sock", cfgPath); got != "/x.sock" {
		t.Errorf("--socket ignored: %q", got)
	}
}

// TestReloadVerbAfterYAMLSyntaxError is issue 14: ExecReload runs `edge reload
// --config /etc/edge/edge.yaml`; after a typo that breaks the YAML the CLI must still
// reach the daemon named by admin_socket, and the verdict must be the syntax error
// with file:line, not "edge is not running".
func TestReloadVerbAfterYAMLSyntaxError(t *testing.T) {
	dir := shortSocketDir(t)
	socket := filepath.Join(dir, "admin.sock")
	cfgPath := filepath.Join(dir, "edge.yaml")
	adminStandIn(t, socket, reloadHandler(func(context.Context) error { _, err := loadConfig(cfgPath); return err }))
	broken := "admin_socket: " + socket + "\napps:\n  web: { blue: 127.0.0.1:3000\nsites: [\n"
	if err := os.WriteFile(cfgPath, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runEdgeCLI("reload", "--config", cfgPath)
	if code != 1 || out != "" || !strings.Contains(errOut, "rejected; edge keeps serving the previous one") ||
		!strings.Contains(errOut, "edge.yaml:") || !strings.Contains(errOut, "not valid YAML") {
		t.Errorf("exit %d, stdout %q, stderr %q; want the YAML error with file:line", code, out, errOut)
	}
	// No daemon at all: the CLI says so and names the file's own problem.
	gone := filepath.Join(dir, "gone.sock")
	_ = os.WriteFile(cfgPath, []byte("admin_socket: "+gone+"\nsites: [\n"), 0o644)
	code, _, errOut = runEdgeCLI("reload", "--config", cfgPath)
	if code != 1 || !strings.Contains(errOut, gone) || !strings.Contains(errOut, "also has problems") || !strings.Contains(errOut, "not valid YAML") {
		t.Errorf("no daemon: exit %d, stderr %q", code, errOut)
	}
}

func TestReloadVerbFailures(t *testing.T) {
	dir := shortSocketDir(t)
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays, nobody listens: a crashed edge

	oldDaemon := filepath.Join(dir, "old.sock")
	adminStandIn(t, oldDaemon, http.NotFoundHandler())
	noReload := filepath.Join(dir, "noreload.sock")
	adminStandIn(t, noReload, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(501)
		fmt.Fprint(w, `{"error":{"code":"reload_unavailable","message":"reload is not available in this edge"}}`)
	}))
	huge := filepath.Join(dir, "huge.sock")
	adminStandIn(t, huge, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		for i := 0; i < 64; i++ {
			fmt.Fprint(w, strings.Repeat("x", 1<<20))
		}
	}))
	slow := filepath.Join(dir, "slow.sock")
	adminStandIn(t, slow, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--socket", filepath.Join(dir, "none.sock")}, 1, "edge is not running: no admin socket"},
		{[]string{"--socket", stale}, 1, "nothing answers"},
		{[]string{"--socket", oldDaemon}, 1, "cannot reload (HTTP 404)"},
		{[]string{"--socket", noReload}, 1, "cannot reload (HTTP 501)"},
		{[]string{"--socket", huge}, 1, "rejected"},
		{[]string{"--socket", slow, "--timeout", "200ms"}, 1, "did not answer"},
		{[]string{"--timeout", "-1s"}, 2, "--timeout must be positive"},
		{[]string{"extra"}, 2, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runEdgeCLI(append([]string{"reload"}, tt.args...)...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d stderr %.300q; want %d and %q", code, errOut, tt.code, tt.want)
			}
			if len(errOut) > 2*maxAdminMessage {
				t.Errorf("stderr is %d bytes", len(errOut))
			}
		})
	}
}

func TestAdminMessageShapes(t *testing.T) {
	for body, want := range map[string]string{
		`{"error":"bad"}`:                          "bad",
		`{"error":{"code":"x","message":"worse"}}`: "worse",
		`{"message":"hi"}`:                         "hi",
		`{"status":"ok"}`:                          "ok",
		"plain text\n":                             "plain text",
		`{"error":42}`:                             `{"error":42}`,
		``:                                         "",
	} {
		if got := adminMessage([]byte(body)); got != want {
			t.Errorf("adminMessage(%q) = %q, want %q", body, got, want)
		}
	}
}
