package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/edge-server/edge/internal/pgtest"
)

// TestBrowserChatThroughEdge runs the browser suite (e2e/*.spec.mjs: headless Debian
// Chromium driven by playwright-core) against the chat as edge serves it — the real
// proxy, router and chat hub wired by buildServices — on a real Postgres (locale ko),
// with a second-origin blog page listed in chat.origins, a database outage, and a second
// edge with the in-memory store (locale en) for the UI language check, and moderation
// (delete → placeholder, ban notice) through the first edge's admin socket.
func TestBrowserChatThroughEdge(t *testing.T) {
	db := pgtest.New(t)
	blog := freeAddr(t)
	ko, koSocket := startChatEdgeWithSocket(t, fmt.Sprintf(`database_url: "%s"
  origins: ["http://%s"]
  nickname_locale: ko`, db.URL, blog))
	en := startChatEdge(t, `nickname_locale: en`)

	cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", "browser-test.sh"))
	cmd.Env = append(os.Environ(),
		"EDGE_CHAT_URL=http://"+ko+"/chat/",
		"EDGE_CHAT_URL_ALT=http://"+en+"/chat/",
		"EDGE_BLOG_ADDR="+blog,
		"EDGE_DB_CONTROL_URL="+dbControl(t, db),
		"EDGE_ADMIN_SOCKET="+koSocket,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("browser tests:\n%s", out)
	if err != nil {
		t.Fatalf("browser tests failed: %v", err)
	}
}

// startChatEdge runs edge (plain HTTP) with the chat at /chat/ and the given chat:
// section body, and returns its HTTP address.
func startChatEdge(t *testing.T, chatSection string) string {
	t.Helper()
	addr, _ := startChatEdgeWithSocket(t, chatSection)
	return addr
}

// startChatEdgeWithSocket is startChatEdge that also returns the admin socket path.
func startChatEdgeWithSocket(t *testing.T, chatSection string) (addr, socket string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "edgechat") // short: unix socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	addr = freeAddr(t)
	socket = filepath.Join(dir, "admin.sock")
	conf := filepath.Join(dir, "edge.yaml")
	yaml := fmt.Sprintf(`state_dir: %s/state
admin_socket: %s/admin.sock
metrics: ""
access_log: false
listen: { http: "%s", https: "" }
sites:
  - hosts: [127.0.0.1]
    routes:
      - { path: /chat/, chat: true }
chat:
  %s
`, dir, dir, addr, chatSection)
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	runServe(t, cfg)
	waitForHTTP(t, "http://"+addr+"/chat/")
	return addr, socket
}

func waitForHTTP(t *testing.T, url string) {
	t.Helper()
	eventuallyOK(t, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s answered %d", url, resp.StatusCode)
		}
		return nil
	})
}

// dbControl serves GET /stop and /start (stop/start the test's Postgres) on loopback.
func dbControl(t *testing.T, db *pgtest.DB) string {
	t.Helper()
	mux := http.NewServeMux()
	for path, f := range map[string]func() error{"/stop": db.Server.Stop, "/start": db.Server.Start} {
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) {
			if err := f(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
