package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A real systemd in systemd-nspawn (Debian systemd-container), booted on the host's own
// /usr with a fresh tmpfs root (/etc is empty but for what systemd creates). The host
// network is shared, so the test's upstreams, load and pebble on 127.0.0.1 reach edge
// and back. Inside there is no awk and no /etc/services: commands print raw output
// and the Go side parses it.
//
// The container runs one agent (systemd.run=…, a unit started once the system is up):
// it executes the numbered scripts the test drops into the bound work dir, one at a
// time, and writes each one's output and exit status next to it. When the agent exits
// the container powers off.

const agentScript = `#!/bin/sh
W=%s
n=0
touch "$W/agent/ready"
while :; do
  n=$((n+1))
  while [ ! -f "$W/agent/$n.sh" ]; do sleep 0.02; done
  [ "$(cat "$W/agent/$n.sh")" = exit ] && exit 0
  sh "$W/agent/$n.sh" >"$W/agent/$n.out" 2>&1
  echo $? >"$W/agent/$n.rc.tmp"
  mv "$W/agent/$n.rc.tmp" "$W/agent/$n.rc"
done
`

// container is a booted systemd with the agent running.
type container struct {
	dir  string // bound at the same path inside
	cmd  *exec.Cmd
	logs *lockedBuffer
	n    int
	done chan struct{}
}

// bootContainer boots systemd in nspawn with dir bound read-write at the same path and
// dir/edge bound read-only at /opt/edge/edge. It fails the test (never skips) when
// nspawn is missing or the system does not come up.
func bootContainer(t *testing.T, dir string) *container {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("booting systemd in systemd-nspawn needs root (CI runs make test as root)")
	}
	nspawn, err := exec.LookPath("systemd-nspawn")
	if err != nil {
		t.Fatalf("systemd-nspawn is missing (Debian package systemd-container; scripts/prereqs.sh installs it): %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	agent := filepath.Join(dir, "agent.sh")
	if err := os.WriteFile(agent, []byte(fmt.Sprintf(agentScript, dir)), 0o755); err != nil {
		t.Fatal(err)
	}
	c := &container{dir: dir, logs: &lockedBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(nspawn, "--quiet", "-D", "/", "--volatile=yes", "--register=no", "--keep-unit", "--boot",
		"--machine=edge-test-"+strconv.Itoa(os.Getpid()),
		"--bind="+dir, "--bind-ro="+filepath.Join(dir, "edge")+":/opt/edge/edge",
		"--", "systemd.firstboot=off", "systemd.run="+agent,
		"systemd.run_success_action=poweroff", "systemd.run_failure_action=poweroff")
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting systemd-nspawn: %v", err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { c.powerOff(t) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "agent", "ready")); err == nil {
			return c
		}
		select {
		case <-c.done:
			t.Fatalf("the container exited before its agent started (%v):\n%s", c.cmd.ProcessState, lastLines(c.logs.String(), 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd did not come up in the container within 60s:\n%s", lastLines(c.logs.String(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run executes script (sh) inside and returns its combined output and exit status.
func (c *container) run(t *testing.T, timeout time.Duration, script string) (string, int) {
	t.Helper()
	c.n++
	base := filepath.Join(c.dir, "agent", strconv.Itoa(c.n))
	if err := os.WriteFile(base+".sh.tmp", []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(base+".sh.tmp", base+".sh"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	for {
		if rc, err := os.ReadFile(base + ".rc"); err == nil {
			out, _ := os.ReadFile(base + ".out")
			code, err := strconv.Atoi(strings.TrimSpace(string(rc)))
			if err != nil {
				t.Fatalf("agent wrote exit status %q", rc)
			}
			return string(out), code
		}
		select {
		case <-c.done:
			t.Fatalf("the container stopped while running %q:\n%s", clip(script), lastLines(c.logs.String(), 40))
		default:
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(base + ".out")
			t.Fatalf("%q did not finish within %s; output so far:\n%s", clip(script), timeout, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// must is run that fails the test on a non-zero exit.
func (c *container) must(t *testing.T, script string) string {
	t.Helper()
	out, rc := c.run(t, 60*time.Second, script)
	if rc != 0 {
		t.Fatalf("inside the container, %q exited %d:\n%s", script, rc, out)
	}
	return out
}

// show returns `systemctl show` properties of unit as a map.
func (c *container) show(t *testing.T, unit string, props ...string) map[string]string {
	t.Helper()
	out := c.must(t, "systemctl show "+unit+" -p "+strings.Join(props, ","))
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// powerOff ends the agent (the container powers off) and waits, killing nspawn if it
// hangs.
func (c *container) powerOff(t *testing.T) {
	select {
	case <-c.done:
		return
	default:
	}
	c.n++
	_ = os.WriteFile(filepath.Join(c.dir, "agent", strconv.Itoa(c.n)+".sh"), []byte("exit"), 0o644)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Errorf("the container did not power off within 30s; killing systemd-nspawn")
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// buildEdge builds cmd/edge into dir/edge, as `make build` would.
func buildEdge(t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go") // go test puts its own go first on PATH
	if err != nil {
		t.Fatalf("the go tool is not on PATH: %v", err)
	}
	bin := filepath.Join(dir, "edge")
	// Default flags, so the packages `go vet ./...` compiled are reused and this is mostly a link.
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/edge: %v\n%s", err, out)
	}
	return bin
}
