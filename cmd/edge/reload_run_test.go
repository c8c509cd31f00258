package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReloadRunningEdge drives a real `edge run`: `edge reload` with a good config adds a
// host and an app without dropping a request; a bad config is rejected with its
// file:line and the previous config keeps serving; SIGHUP reloads too, with
// RELOADING=1 / READY=1 sent to systemd.
func TestReloadRunningEdge(t *testing.T) {
	one := startUpstream(t, "one", 0)
	two := startUpstream(t, "two", 0)
	idle := startUpstream(t, "idle", 0)
	addr, f := heldListener(t)
	dir := shortSocketDir(t)
	health := "    health: { path: /health, interval: 300ms, timeout: 200ms, rise: 1, fall: 3 }\n"
	appOne := fmt.Sprintf("  one:\n    blue: %s\n    green: %s\n%s", one.addr, idle.addr, health)
	appTwo := fmt.Sprintf("  two:\n    blue: %s\n    green: %s\n%s", two.addr, idle.addr, health)
	siteOne := "  - hosts: [one.test]\n    routes:\n      - { path: /, app: one }\n"
	siteTwo := "  - hosts: [two.test]\n    routes:\n      - { path: /, app: two }\n"
	v1 := "apps:\n" + appOne + "sites:\n" + siteOne
	v2 := "apps:\n" + appOne + appTwo + "sites:\n" + siteOne + siteTwo
	cfg := writeEdgeConfig(t, dir, addr, v1)
	socket := filepath.Join(dir, "admin.sock")

	p := startEdge(t, cfg, []*os.File{f}, "http")
	p.waitReady(t)
	waitForBody(t, addr, "one.test", "one", 60*time.Second)
	if code, body, _ := get(&http.Client{Timeout: 10 * time.Second}, addr, "two.test", "/"); code == 200 && body == "two" {
		t.Fatal("two.test is served before it was configured")
	}
	l := startLoad(addr, "one.test", "one", 4)
	defer func() {
		if l != nil {
			l.finish()
		}
	}()
	l.waitOK(t, 50, 60*time.Second)

	// A good config: new host and app.
	writeEdgeConfig(t, dir, addr, v2)
	code, out, errOut := runEdgeCLI("reload", "--socket", socket)
	if code != 0 {
		t.Fatalf("edge reload of a good config: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	p.waitNotify(t, "READY=1", 30*time.Second)
	waitForBody(t, addr, "two.test", "two", 60*time.Second)
	l.waitOK(t, 50, 60*time.Second)

	// A bad config: rejected with the reason, the previous one keeps serving.
	writeEdgeConfig(t, dir, addr, v2+"colour: green\n")
	code, out, errOut = runEdgeCLI("reload", "--socket", socket)
	if code != 1 || !strings.Contains(errOut, "edge.yaml:") || !strings.Contains(errOut, "colour") {
		t.Errorf("edge reload of a bad config: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	waitForBody(t, addr, "two.test", "two", 10*time.Second)
	l.waitOK(t, 50, 60*time.Second)

	// SIGHUP with a config that drops two.test again.
	writeEdgeConfig(t, dir, addr, v1)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitNotify(t, "RELOADING=1", 30*time.Second)
	p.waitNotify(t, "READY=1", 30*time.Second)
	c := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body, err := get(c, addr, "two.test", "/")
		if err == nil && !(code == 200 && body == "two") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("two.test still served after SIGHUP removed it: %d %q %v", code, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ok, fail, retried, errs := l.finish()
	l = nil
	t.Logf("3 reloads under load: %d requests ok, %d failed, %d retried once on a closed keep-alive connection", ok, fail, retried)
	if fail != 0 {
		t.Errorf("%d requests to one.test failed during reloads: %v", fail, errs)
	}
	if retried != 0 {
		t.Errorf("reloads closed %d keep-alive connections; a reload must not touch connections", retried)
	}
	p.stop(t)
}
