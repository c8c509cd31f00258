package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edge-server/edge/internal/loadgen"
	"github.com/edge-server/edge/tls/pebbletest"
)

// unitEnv is what a deploy adds next to the shipped units: the edge user, the config,
// edge.env, and drop-ins. The binary is bound read-only at /opt/edge/edge, so a drop-in
// points ExecStart/ExecReload there (same arguments as shipped); another moves the
// sockets to free loopback ports (the host network is shared with other tests).
type unitEnv struct {
	dir               string
	httpAddr, tlsAddr string // edge.socket's two ListenStream= (":80" and ":443" as shipped)
	blue, green       *upstream
}

const nspawnConfig = `state_dir: /var/lib/edge
admin_socket: /run/edge/admin.sock
listen: { http: "%s", https: "%s" }
metrics: ""
%s
apps:
  web:
    blue: ${BLUE_ADDR}
    green: %s
    health: { path: /health, interval: 500ms, timeout: 400ms, rise: 1, fall: 3 }
    drain: 5s
sites:
  - hosts: [app.test]
    routes:
      - { path: /chat/, chat: true }
      - { path: /, app: web }
%s`

func (u *unitEnv) config(https, tlsBlock, extra string) string {
	return fmt.Sprintf(nspawnConfig, u.httpAddr, https, tlsBlock, u.green.addr, extra)
}

// execDropIn rewrites the shipped ExecStart=/ExecReload= for the binary at /opt/edge/edge,
// keeping their arguments, so the unit itself is installed byte for byte.
func execDropIn(t *testing.T, unit string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("[Service]\n")
	for _, key := range []string{"ExecStart=", "ExecReload="} {
		re := regexp.MustCompile(`(?m)^` + key + `(\S+)(.*)$`)
		m := re.FindStringSubmatch(unit)
		if m == nil || m[1] != "/usr/local/bin/edge" {
			t.Fatalf("systemd/edge.service: no %s/usr/local/bin/edge line (%v)", key, m)
		}
		fmt.Fprintf(&b, "%s\n%s/opt/edge/edge%s\n", key, key, m[2])
	}
	return b.String()
}

func (u *unitEnv) write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(u.dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSystemdInNspawn is issue 14: the shipped units under a real systemd. One boot
// runs every scenario in order; each step asserts before the next builds on it.
func TestSystemdInNspawn(t *testing.T) {
	started := time.Now()
	dir, err := os.MkdirTemp("", "edge-nspawn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	buildEdge(t, dir)
	u := &unitEnv{dir: dir, httpAddr: freeAddr(t), tlsAddr: freeAddr(t),
		blue: startUpstream(t, "blue", 2*time.Second), green: startUpstream(t, "green", 0)}
	service, err := os.ReadFile("../../systemd/edge.service")
	if err != nil {
		t.Fatal(err)
	}
	socket, err := os.ReadFile("../../systemd/edge.socket")
	if err != nil {
		t.Fatal(err)
	}
	u.write(t, "edge.service", string(service))
	u.write(t, "edge.socket", string(socket))
	u.write(t, "exec.conf", execDropIn(t, string(service)))
	u.write(t, "ports.conf", fmt.Sprintf("[Socket]\nListenStream=\nListenStream=%s\nListenStream=%s\n", u.httpAddr, u.tlsAddr))
	u.write(t, "edge.env", "BLUE_ADDR="+u.blue.addr+"\n")
	u.write(t, "edge.yaml", u.config("", "", ""))
	t.Logf("built edge in %s", time.Since(started).Round(time.Millisecond))

	booted := time.Now()
	c := bootContainer(t, dir)
	t.Logf("container up in %s", time.Since(booted).Round(time.Millisecond))
	c.must(t, fmt.Sprintf(`set -e
W=%s
groupadd --system edge
useradd --system -g edge -d /var/lib/edge -s /usr/sbin/nologin edge
useradd --create-home mallory
install -d -m 0755 /etc/edge
install -m 0640 -o root -g edge $W/edge.yaml /etc/edge/edge.yaml
install -m 0600 $W/edge.env /etc/edge/edge.env
install -m 0644 $W/edge.service $W/edge.socket /etc/systemd/system/
install -d /etc/systemd/system/edge.service.d /etc/systemd/system/edge.socket.d
install -m 0644 $W/exec.conf /etc/systemd/system/edge.service.d/opt-edge.conf
install -m 0644 $W/ports.conf /etc/systemd/system/edge.socket.d/ports.conf
systemctl daemon-reload
systemctl enable --now edge.socket edge.service
`, dir))

	t.Run("start", func(t *testing.T) { nspawnStart(t, c, u) })
	t.Run("reload", func(t *testing.T) { nspawnReload(t, c, u) })
	t.Run("restart under load", func(t *testing.T) { nspawnRestartUnderLoad(t, c, u) })
	t.Run("state survives restarts", func(t *testing.T) { nspawnStateSurvives(t, c, u) })
	t.Run("stop drains", func(t *testing.T) { nspawnStopDrains(t, c, u) })
	t.Run("restart on failure", func(t *testing.T) { nspawnKill9(t, c, u) })
	t.Run("admin socket refuses other users", func(t *testing.T) { nspawnAdminSocket(t, c) })
	t.Run("https with acme", func(t *testing.T) { nspawnHTTPS(t, c, u) })
	if took := time.Since(booted); took > 2*time.Minute {
		t.Errorf("boot and scenarios took %s; they must stay under 2 minutes", took)
	}
	t.Logf("systemd in nspawn: %s from boot to the last check, %s with the build", time.Since(booted).Round(time.Millisecond),
		time.Since(started).Round(time.Millisecond))
}

// resetStartLimit clears StartLimitBurst's counter: the test starts edge more often in
// a minute than the unit allows an operator (5 in 60 s).
func resetStartLimit(t *testing.T, c *container) { c.must(t, "systemctl reset-failed edge.service") }

func nspawnStart(t *testing.T, c *container, u *unitEnv) {
	p := c.show(t, "edge.service", "ActiveState", "SubState", "Type", "StatusText", "MainPID", "User")
	if p["ActiveState"] != "active" || p["SubState"] != "running" || p["Type"] != "notify" {
		t.Fatalf("edge.service: %v", p)
	}
	// Type=notify: active means edge sent READY=1; the status line is edge's own.
	if !strings.Contains(p["StatusText"], "serving") && p["StatusText"] == "" {
		t.Errorf("no status text from edge: %v", p)
	}
	t.Logf("status text: %q", p["StatusText"])
	out := c.must(t, "stat -c '%n %U:%G %a' /run/edge /var/lib/edge /run/edge/admin.sock /etc/edge/edge.yaml")
	for _, want := range []string{"/run/edge edge:edge 750", "/var/lib/edge edge:edge 700", "/run/edge/admin.sock edge:edge 660", "/etc/edge/edge.yaml root:edge 640"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	// The shipped edge.socket also passes the https port; with https: "" that is a
	// warning in the journal, not a refusal to start.
	journal := c.must(t, "journalctl -u edge.service -o cat --no-pager")
	if !strings.Contains(journal, "systemd passed sockets edge has no use for") || !strings.Contains(journal, u.tlsAddr) {
		t.Errorf("no warning about the unused %s socket in the journal:\n%s", u.tlsAddr, lastLines(journal, 20))
	}
	waitForBody(t, u.httpAddr, "app.test", "blue", 30*time.Second)
}

func nspawnReload(t *testing.T, c *container, u *unitEnv) {
	// Good: a new header route appears without a restart.
	pid := c.show(t, "edge.service", "MainPID")["MainPID"]
	u.write(t, "edge.yaml", u.config("", "", "  - hosts: [new.test]\n    routes:\n      - { path: /, app: web }\n"))
	c.must(t, fmt.Sprintf("install -m 0640 -o root -g edge %s/edge.yaml /etc/edge/edge.yaml && systemctl reload edge", u.dir))
	waitForBody(t, u.httpAddr, "new.test", "blue", 10*time.Second)
	// Bad: a YAML syntax error fails `systemctl reload`, names file:line, keeps serving.
	u.write(t, "edge.yaml", u.config("", "", "  - hosts: [broken.test\n"))
	out, rc := c.run(t, 90*time.Second, fmt.Sprintf(
		"install -m 0640 -o root -g edge %s/edge.yaml /etc/edge/edge.yaml && systemctl reload edge; echo rc=$?; journalctl -u edge.service -o cat --no-pager -n 30", u.dir))
	if rc != 0 || !strings.Contains(out, "rc=1") {
		t.Fatalf("systemctl reload with a broken config did not fail:\n%s", out)
	}
	if !strings.Contains(out, "/etc/edge/edge.yaml:") || !strings.Contains(out, "not valid YAML") || strings.Contains(out, "edge is not running") {
		t.Errorf("the failed reload does not name the syntax error with file:line:\n%s", out)
	}
	p := c.show(t, "edge.service", "ActiveState", "MainPID")
	if p["ActiveState"] != "active" || p["MainPID"] != pid {
		t.Errorf("after the bad reload: %v (MainPID was %s)", p, pid)
	}
	waitForBody(t, u.httpAddr, "new.test", "blue", 10*time.Second)
	u.write(t, "edge.yaml", u.config("", "", ""))
	c.must(t, fmt.Sprintf("install -m 0640 -o root -g edge %s/edge.yaml /etc/edge/edge.yaml && systemctl reload edge", u.dir))

	// Under load: reloads drop nothing.
	l := loadgen.Start(loadgen.Config{Addr: u.httpAddr, Host: "app.test", Conns: 16})
	time.Sleep(time.Second)
	for i := 0; i < 3; i++ {
		c.must(t, "systemctl reload edge")
		time.Sleep(500 * time.Millisecond)
	}
	got := l.Stop()
	t.Logf("3 × systemctl reload under 16-connection keep-alive load: %s", got)
	if got.Errors() != 0 || got.OK == 0 {
		t.Errorf("reload under load: %s; first errors %v", got, got.FirstErrors)
	}
}

func nspawnRestartUnderLoad(t *testing.T, c *container, u *unitEnv) {
	resetStartLimit(t, c)
	l := loadgen.Start(loadgen.Config{Addr: u.httpAddr, Host: "app.test", Conns: 16})
	start := time.Now()
	time.Sleep(time.Second)
	const restarts = 3
	prev := l.Counts()
	for i := 1; i <= restarts; i++ {
		t0 := time.Now()
		c.must(t, "systemctl restart edge")
		took := time.Since(t0)
		time.Sleep(1500 * time.Millisecond)
		now := l.Counts()
		t.Logf("restart %d (systemctl took %s): %d ok, %d Connection: close, %d refused, %d socket errors, %d non-2xx",
			i, took.Round(time.Millisecond), now.OK-prev.OK, now.Closes-prev.Closes, now.Refused-prev.Refused,
			now.SocketErrors-prev.SocketErrors, now.Non2xx-prev.Non2xx)
		if se := now.SocketErrors - prev.SocketErrors; se > 5 {
			t.Errorf("restart %d: %d socket errors, want at most 5", i, se)
		}
		prev = now
	}
	time.Sleep(max(0, 9*time.Second-time.Since(start)))
	got := l.Stop()
	t.Logf("%d × systemctl restart edge in %s of 16-connection keep-alive load: %s", restarts, time.Since(start).Round(time.Millisecond), got)
	if got.Refused != 0 || got.Non2xx != 0 {
		t.Errorf("restarts under load: %s; want 0 refused and 0 non-2xx; first errors %v", got, got.FirstErrors)
	}
	if len(got.FirstErrors) > 0 {
		t.Logf("first errors: %v", got.FirstErrors)
	}
}

func nspawnStateSurvives(t *testing.T, c *container, u *unitEnv) {
	resetStartLimit(t, c)
	c.must(t, "/opt/edge/edge switch green --config /etc/edge/edge.yaml")
	waitForBody(t, u.httpAddr, "app.test", "green", 10*time.Second)
	before := c.must(t, "cat /var/lib/edge/state.json; echo; cat /var/lib/edge/chat-secret")
	c.must(t, "systemctl restart edge")
	after := c.must(t, "cat /var/lib/edge/state.json; echo; cat /var/lib/edge/chat-secret")
	if before != after || !strings.Contains(after, "green") {
		t.Errorf("state.json / chat-secret changed across a restart:\nbefore %s\nafter  %s", before, after)
	}
	waitForBody(t, u.httpAddr, "app.test", "green", 10*time.Second)
	c.must(t, "/opt/edge/edge switch blue --config /etc/edge/edge.yaml")
}

func nspawnStopDrains(t *testing.T, c *container, u *unitEnv) {
	slow := make(chan string, 1)
	go func() {
		code, body, err := get(&http.Client{Timeout: 30 * time.Second}, u.httpAddr, "app.test", "/slow")
		slow <- fmt.Sprintf("%d %s %v", code, body, err)
	}()
	select {
	case <-u.blue.slowStart:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached blue")
	}
	t0 := time.Now()
	c.must(t, "systemctl stop edge")
	took := time.Since(t0)
	if got := <-slow; got != "200 blue-slow <nil>" {
		t.Errorf("request in flight at systemctl stop ended with %s", got)
	}
	p := c.show(t, "edge.service", "ActiveState", "Result", "ExecMainStatus", "TimeoutStopUSec")
	t.Logf("systemctl stop took %s with a 2 s request in flight; %v", took.Round(time.Millisecond), p)
	if p["ActiveState"] != "inactive" || p["Result"] != "success" || p["ExecMainStatus"] != "0" {
		t.Errorf("after stop: %v", p)
	}
	if took > 10*time.Second { // TimeoutStopSec is 45 s; draining must end long before
		t.Errorf("systemctl stop took %s", took)
	}
	resetStartLimit(t, c)
	c.must(t, "systemctl start edge")
	waitForBody(t, u.httpAddr, "app.test", "blue", 10*time.Second)
}

func nspawnKill9(t *testing.T, c *container, u *unitEnv) {
	resetStartLimit(t, c)
	before := c.show(t, "edge.service", "MainPID", "NRestarts")
	c.must(t, "kill -9 "+before["MainPID"])
	out := c.must(t, fmt.Sprintf(`for i in $(seq 1 100); do
  pid=$(systemctl show -p MainPID --value edge.service)
  if systemctl is-active -q edge.service && [ "$pid" != 0 ] && [ "$pid" != %s ]; then echo up; exit 0; fi
  sleep 0.1
done
systemctl status edge.service --no-pager`, before["MainPID"]))
	if !strings.HasPrefix(out, "up") {
		t.Fatalf("edge did not come back after kill -9:\n%s", out)
	}
	after := c.show(t, "edge.service", "MainPID", "NRestarts")
	if after["NRestarts"] == before["NRestarts"] {
		t.Errorf("NRestarts %s → %s", before["NRestarts"], after["NRestarts"])
	}
	waitForBody(t, u.httpAddr, "app.test", "blue", 10*time.Second)
}

func nspawnAdminSocket(t *testing.T, c *container) {
	// setpriv, not runuser/su: the fresh /etc has no PAM configuration.
	asMallory := "setpriv --reuid=$(id -u mallory) --regid=$(id -g mallory) --clear-groups -- /opt/edge/edge "
	out, rc := c.run(t, 30*time.Second, asMallory+"status --socket /run/edge/admin.sock; echo rc=$?; "+
		asMallory+"switch green --socket /run/edge/admin.sock; echo rc=$?")
	if rc != 0 || strings.Contains(out, "rc=0") || !strings.Contains(out, "permission denied") {
		t.Errorf("a user outside group edge used the admin socket:\n%s", out)
	}
	if out := c.must(t, "/opt/edge/edge status --config /etc/edge/edge.yaml"); !strings.Contains(out, "web") {
		t.Errorf("root's edge status:\n%s", out)
	}
}

func nspawnHTTPS(t *testing.T, c *container, u *unitEnv) {
	p := pebbletest.Start(t, pebbletest.Options{Quiet: true})
	p.Forward(u.httpAddr, u.tlsAddr)
	u.write(t, "pebble-root.pem", string(p.ServerRootPEM))
	u.write(t, "edge.yaml", u.config(u.tlsAddr,
		fmt.Sprintf("tls: { email: ops@app.test, ca: %q, ca_root: /etc/edge/pebble-root.pem, hsts: true }", p.DirectoryURL), ""))
	resetStartLimit(t, c)
	c.must(t, fmt.Sprintf(`set -e
install -m 0640 -o root -g edge %[1]s/pebble-root.pem /etc/edge/pebble-root.pem
install -m 0640 -o root -g edge %[1]s/edge.yaml /etc/edge/edge.yaml
systemctl restart edge`, u.dir))
	waitForCertificate(t, u.tlsAddr, "app.test", p)
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: "app.test", RootCAs: p.IssuerRoots()},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", u.tlsAddr)
		}}}
	resp, err := cl.Get("https://app.test/")
	if err != nil {
		t.Fatalf("HTTPS through the socket-activated port: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "blue" || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("HTTPS: %d %q, HSTS %q", resp.StatusCode, body, resp.Header.Get("Strict-Transport-Security"))
	}
	t.Logf("HTTPS on the socket-activated %s: certificate from pebble (%d orders), %d %q", u.tlsAddr, p.Orders(), resp.StatusCode, body)

	// A restart under HTTPS keep-alive load: the stored certificate is reused (no new
	// order) and the hand-over holds on TLS too.
	orders := p.Orders()
	resetStartLimit(t, c)
	l := loadgen.Start(loadgen.Config{Addr: u.tlsAddr, Host: "app.test", Conns: 16,
		TLS: &tls.Config{ServerName: "app.test", RootCAs: p.IssuerRoots(), NextProtos: []string{"http/1.1"}}})
	time.Sleep(time.Second)
	c.must(t, "systemctl restart edge")
	time.Sleep(1500 * time.Millisecond)
	got := l.Stop()
	t.Logf("systemctl restart edge under 16-connection HTTPS keep-alive load: %s", got)
	if got.Refused != 0 || got.Non2xx != 0 || got.SocketErrors > 5 || got.OK == 0 {
		t.Errorf("HTTPS restart under load: %s; first errors %v", got, got.FirstErrors)
	}
	if p.Orders() != orders {
		t.Errorf("the restart ordered a new certificate (%d → %d orders)", orders, p.Orders())
	}
}
