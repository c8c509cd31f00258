package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/edge-server/edge/internal/config"
	"github.com/edge-server/edge/proxy"
)

// recordingProxy is a reloadable that keeps what it was given; refuse makes it fail.
type recordingProxy struct {
	mu     sync.Mutex
	got    []proxy.Config
	refuse error
}

func (p *recordingProxy) Reload(c proxy.Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refuse != nil {
		return p.refuse
	}
	p.got = append(p.got, c)
	return nil
}

func (p *recordingProxy) calls() []proxy.Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]proxy.Config(nil), p.got...)
}

const reloadBase = `state_dir: %[1]s
admin_socket: %[1]s/admin.sock
listen: { http: "127.0.0.1:0", https: "" }
metrics: ""
apps:
  web:
    blue: %[2]s
    green: 127.0.0.1:4000
sites:
  - hosts: [%[3]s]
    routes:
      - { path: /, app: web }
`

func writeReloadConfig(t *testing.T, path, dir, blue, host, extra string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(fmt.Sprintf(reloadBase, dir, blue, host)+extra), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newTestReloader loads a config written to a temp dir and builds a reloader on it with
// a real notify socket, as `edge run` would.
func newTestReloader(t *testing.T) (*reloader, *notifySocket, string, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "edge.yaml")
	writeReloadConfig(t, path, dir, "127.0.0.1:3000", "a.example.com", "")
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	sock := newNotifySocket(t, false)
	n, _ := newNotifier(envOf(map[string]string{"NOTIFY_SOCKET": sock.addr}))
	r := newReloader(cfg, zap.NewNop(), n, newPromMetrics())
	return r, sock, path, dir
}

func TestReloadAppliesAGoodConfig(t *testing.T) {
	r, sock, path, dir := newTestReloader(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	started := r.config().Proxy
	started.HTTPListener = ln // built at start; a reload must keep it
	p := &recordingProxy{}
	r.addProxy(p, started)

	writeReloadConfig(t, path, dir, "127.0.0.1:3001", "b.example.com", "")
	if err := r.reloadConfig(context.Background()); err != nil {
		t.Fatalf("good config rejected: %v", err)
	}
	if m := sock.next(t, 10*time.Second); !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("first notification %q, want RELOADING=1", m)
	}
	if m := sock.next(t, 10*time.Second); !strings.HasPrefix(m, "READY=1\n") || !strings.Contains(m, "reloaded at") {
		t.Errorf("second notification %q, want READY=1 … reloaded", m)
	}
	calls := p.calls()
	if len(calls) != 1 {
		t.Fatalf("proxy reloaded %d times", len(calls))
	}
	got := calls[0]
	if got.Apps[0].Blue[0] != "127.0.0.1:3001" || got.Sites[0].Hosts[0] != "b.example.com" {
		t.Errorf("proxy got apps %+v sites %+v", got.Apps, got.Sites)
	}
	if got.HTTPListener != ln {
		t.Error("the running listener was not carried into the new proxy config")
	}
	if r.config().Proxy.Apps[0].Blue[0] != "127.0.0.1:3001" {
		t.Error("current config not updated")
	}
}

func TestReloadRejectsABadConfigAndKeepsTheOld(t *testing.T) {
	tests := []struct {
		name, content string
		want          []string
	}{
		{"unknown key", "", []string{"edge.yaml:13:", "colour"}},
		{"not YAML", "\tapps: [", []string{"not valid YAML"}},
		{"listen address changed", "listen.http", []string{"listen.http changed", "systemctl restart edge"}},
		{"empty file", "empty", []string{"empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, sock, path, dir := newTestReloader(t)
			p := &recordingProxy{}
			r.addProxy(p, r.config().Proxy)
			old := r.config()
			switch tt.content {
			case "":
				writeReloadConfig(t, path, dir, "127.0.0.1:3001", "a.example.com", "colour: blue\n")
			case "listen.http":
				writeReloadConfig(t, path, dir, "127.0.0.1:3001", "a.example.com", "")
				b, _ := os.ReadFile(path)
				_ = os.WriteFile(path, []byte(strings.Replace(string(b), "127.0.0.1:0", "127.0.0.1:8080", 1)), 0o644)
			case "empty":
				_ = os.WriteFile(path, nil, 0o644)
			default:
				_ = os.WriteFile(path, []byte(tt.content), 0o644)
			}
			err := r.reloadConfig(context.Background())
			if err == nil {
				t.Fatal("bad config accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if len(p.calls()) != 0 || r.config() != old {
				t.Error("a rejected config reached the proxy or replaced the running one")
			}
			sock.waitFor(t, "RELOADING=1", 10*time.Second)
			if m := sock.next(t, 10*time.Second); !strings.HasPrefix(m, "READY=1\n") || !strings.Contains(m, "rejected") {
				t.Errorf("after a rejected reload systemd got %q, want READY=1 with the rejection", m)
			}
		})
	}
}

func TestReloadUndoesEarlierStepsWhenAPartRefuses(t *testing.T) {
	r, _, path, dir := newTestReloader(t)
	var applied []string
	r.addCertificates(func(hosts []string) error {
		applied = append(applied, strings.Join(hosts, " "))
		return nil
	})
	r.addProxy(&recordingProxy{refuse: errors.New("route table rejected")}, r.config().Proxy)
	writeReloadConfig(t, path, dir, "127.0.0.1:3001", "b.example.com", "")
	err := r.reloadConfig(context.Background())
	if err == nil || !strings.Contains(err.Error(), "proxy refused the new config") || !strings.Contains(err.Error(), "route table rejected") {
		t.Fatalf("error %v", err)
	}
	if strings.Join(applied, ",") != "b.example.com,a.example.com" {
		t.Errorf("certificates step saw %v; want the new hosts, then the old ones restored", applied)
	}
	if r.config().Proxy.Sites[0].Hosts[0] != "a.example.com" {
		t.Error("running config replaced after a refused reload")
	}
}

func TestReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "edge.yaml")
	writeReloadConfig(t, path, dir, "127.0.0.1:3000", "a.example.com", "")
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	sock := newNotifySocket(t, false)
	t.Setenv("NOTIFY_SOCKET", sock.addr)
	d, err := newOpsDaemon(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{}
	d.reload.addProxy(p, d.reload.config().Proxy)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.ready(ctx)
	sock.waitFor(t, "READY=1", 10*time.Second)

	writeReloadConfig(t, path, dir, "127.0.0.1:3002", "a.example.com", "")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	sock.waitFor(t, "RELOADING=1", 30*time.Second)
	sock.waitFor(t, "READY=1", 30*time.Second)
	if c := p.calls(); len(c) != 1 || c[0].Apps[0].Blue[0] != "127.0.0.1:3002" {
		t.Fatalf("SIGHUP reload gave the proxy %+v", c)
	}
	d.stopping()
	sock.waitFor(t, "STOPPING=1", 10*time.Second)
}

func TestRestartOnlyChangesAreNamed(t *testing.T) {
	a := config.Default("a.yaml")
	b := config.Default("b.yaml")
	if errs := restartOnlyChanges(a, b); len(errs) != 0 {
		t.Fatalf("identical configs: %v", errs)
	}
	b.Proxy.HTTPSAddr = ""
	b.AdminSocket = "/tmp/x.sock"
	b.Metrics = ""
	b.ChatEnabled = true
	b.TLS.CA = "letsencrypt-staging"
	b.Proxy.Limits.MaxBodyBytes = 1234
	b.Proxy.HSTS = true
	errs := restartOnlyChanges(a, b)
	var keys []string
	for _, e := range errs {
		keys = append(keys, strings.SplitN(e.Msg, " ", 2)[0])
	}
	if got := strings.Join(keys, ","); got != "listen.https,admin_socket,metrics,limits,tls.hsts,tls.ca,chat" {
		t.Errorf("named %s", got)
	}
	a.ChatEnabled, a.Chat.DatabaseURL = true, "postgres://u:secret@db/x"
	b.Chat.DatabaseURL = "postgres://u:other@db/x"
	for _, e := range restartOnlyChanges(a, b) {
		if strings.Contains(e.Msg, "secret") || strings.Contains(e.Msg, "other@") {
			t.Errorf("a restart-only message leaks the database URL: %s", e.Msg)
		}
	}
}

// TestReloadHostsNeedCertificates: with HTTPS on, changed hosts are applied only when a
// certificates step takes the new host list; otherwise the reload asks for a restart.
func TestReloadHostsNeedCertificates(t *testing.T) {
	for _, withCerts := range []bool{false, true} {
		t.Run(fmt.Sprintf("certificates step %v", withCerts), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "edge.yaml")
			https := func(host string) string {
				return strings.Replace(fmt.Sprintf(reloadBase, dir, "127.0.0.1:3000", host), `https: ""`, `https: "127.0.0.1:0"`, 1)
			}
			_ = os.WriteFile(path, []byte(https("a.example.com")), 0o644)
			cfg, err := loadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			r := newReloader(cfg, zap.NewNop(), nil, newPromMetrics())
			r.addProxy(&recordingProxy{}, cfg.Proxy)
			var got []string
			if withCerts {
				r.addCertificates(func(hosts []string) error { got = hosts; return nil })
			}
			_ = os.WriteFile(path, []byte(https("a.example.com, new.example.com")), 0o644)
			err = r.reloadConfig(context.Background())
			if withCerts {
				if err != nil || strings.Join(got, " ") != "a.example.com new.example.com" {
					t.Errorf("reload: %v; certificate hosts %q", err, got)
				}
			} else if err == nil || !strings.Contains(err.Error(), "hosts changed while HTTPS is on") {
				t.Errorf("reload without a certificates step: %v", err)
			}
		})
	}
}
