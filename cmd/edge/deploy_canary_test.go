package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-server/edge/proxy"
)

// TestDeployScriptCanary runs scripts/deploy-blue-green.sh --canary against a real
// daemon (the test binary plays the edge CLI; systemctl is `true`): a check that
// fails at a step sends everyone back to the live color and exits 1; a rollout whose
// checks pass ends on the new color.
func TestDeployScriptCanary(t *testing.T) {
	d := startDaemon(t, true)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	edge := filepath.Join(dir, "edge")
	if err := os.WriteFile(edge, []byte("#!/bin/sh\n"+testChildEnv+"=edge exec '"+self+"' \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(check string) (int, string) {
		cmd := exec.Command("bash", "../../scripts/deploy-blue-green.sh", "deploy", "--app", "web", "--unit", "web@%s",
			"--socket", d.socket, "--canary", "10,50", "--step-wait", "0", "--check", check, "--keep-old")
		cmd.Env = append(os.Environ(), "EDGE="+edge, "SYSTEMCTL=true")
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	status := func() proxy.AppStatus {
		code, out, errs := runEdge("status", "--json", "--socket", d.socket)
		var st proxy.Status
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			t.Fatalf("status %d %s %s", code, out, errs)
		}
		return st.Apps[0]
	}
	code, out := run(`[ "$WEIGHT" -lt 50 ]`)
	if st := status(); code != 1 || !strings.Contains(out, "canary: 10% of visitors on green") ||
		!strings.Contains(out, "--check failed at 50%; every visitor is back on blue") || st.Active != "blue" || st.Weight != 0 {
		t.Fatalf("failing check: exit %d, status %+v\n%s", code, st, out)
	}
	code, out = run(`[ "$COLOR" = green ]`)
	if st := status(); code != 0 || !strings.Contains(out, "canary: 50% of visitors on green") ||
		!strings.Contains(out, "traffic is on green") || st.Active != "green" || st.Weight != 0 {
		t.Fatalf("passing checks: exit %d, status %+v\n%s", code, st, out)
	}
}
