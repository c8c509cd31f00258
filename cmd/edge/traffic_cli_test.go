package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/edge-server/edge/proxy"
)

// TestCLITrafficVerbs drives canary, pause, resume and maintenance through the CLI
// against a real daemon, and checks that bad input is one sentence, exit 1, and
// changes nothing.
func TestCLITrafficVerbs(t *testing.T) {
	d := startDaemon(t, true)
	status := func() proxy.AppStatus {
		t.Helper()
		code, out, errs := runEdge("status", "--json", "--socket", d.socket)
		var st proxy.Status
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			t.Fatalf("status --json %d %s %s", code, out, errs)
		}
		return st.Apps[0]
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"switch", "green", "--weight", "0"}, "edge switch: weight 0 is outside 1 to 99"},
		{[]string{"switch", "green", "--weight", "100"}, "edge switch: weight 100 is outside 1 to 99"},
		{[]string{"switch", "blue", "--weight", "10"}, "edge switch: blue is already live for web"},
		{[]string{"pause", "--app", "nope"}, `edge pause: there is no app named "nope"`},
		{[]string{"resume", "--app", "nope"}, `edge resume: there is no app named "nope"`},
		{[]string{"maintenance", "on", "--app", "nope"}, `edge maintenance: there is no app named "nope"`},
		{[]string{"pause", "--max-wait", "1h"}, "edge pause: max_wait must be more than 0 and at most 10m0s"},
	} {
		code, out, errs := runEdge(append(tt.args, "--socket", d.socket)...)
		if code != 1 || out != "" || !strings.HasPrefix(errs, tt.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", tt.args, code, out, errs, tt.want)
		}
	}
	if st := status(); st.Weight != 0 || st.Paused || st.Maintenance || st.Active != "blue" {
		t.Fatalf("bad input changed the state: %+v", st)
	}
	code, out, errs := runEdge("switch", "green", "--weight", "10", "--socket", d.socket)
	if code != 0 || !strings.HasPrefix(out, "web sends 10% of visitors to green") {
		t.Fatalf("canary: %d %q %q", code, out, errs)
	}
	code, out, _ = runEdge("status", "--socket", d.socket)
	if code != 0 || !strings.Contains(out, "canary: 10% of visitors on green") {
		t.Fatalf("status text %q", out)
	}
	if st := status(); st.Weight != 10 || st.Active != "blue" {
		t.Fatalf("status %+v", st)
	}
	code, out, errs = runEdge("rollback", "--socket", d.socket)
	if code != 0 || !strings.HasPrefix(out, "web canary ended: every visitor is on blue again") {
		t.Fatalf("rollback of a canary: %d %q %q", code, out, errs)
	}
	code, out, errs = runEdge("pause", "--max-wait", "20s", "--socket", d.socket)
	if code != 0 || !strings.Contains(out, "web is paused") || !status().Paused {
		t.Fatalf("pause: %d %q %q", code, out, errs)
	}
	code, out, errs = runEdge("resume", "--socket", d.socket)
	if code != 0 || !strings.HasPrefix(out, "web resumed") || status().Paused {
		t.Fatalf("resume: %d %q %q", code, out, errs)
	}
	code, out, errs = runEdge("maintenance", "on", "--message", "back soon", "--socket", d.socket)
	if st := status(); code != 0 || !st.Maintenance || st.Message != "back soon" {
		t.Fatalf("maintenance on: %d %q %q %+v", code, out, errs, st)
	}
	if got := fetch(t, d.proxy.HTTPAddr()); !strings.Contains(got, "back soon") {
		t.Fatalf("maintenance page %q", got)
	}
	code, out, errs = runEdge("maintenance", "off", "--socket", d.socket)
	if code != 0 || status().Maintenance || fetch(t, d.proxy.HTTPAddr()) != "blue" {
		t.Fatalf("maintenance off: %d %q %q", code, out, errs)
	}
	if code, _, errs := runEdge("maintenance", "maybe", "--socket", d.socket); code != 2 || !strings.Contains(errs, "say on or off") {
		t.Fatalf("maintenance maybe: %d %q", code, errs)
	}
	code, out, errs = runEdge("switch", "green", "--auto", "--steps", "10,50", "--hold", "200ms", "--socket", d.socket)
	if st := status(); code != 0 || !strings.HasPrefix(out, "web now serves from green") || st.Active != "green" || st.Weight != 0 {
		t.Fatalf("switch --auto: %d %q %q %+v", code, out, errs, st)
	}
	if code, _, errs := runEdge("switch", "blue", "--auto", "--steps", "50,10", "--socket", d.socket); code != 1 || !strings.Contains(errs, "must rise") {
		t.Fatalf("switch --auto with falling steps: %d %q", code, errs)
	}
	if code, _, errs := runEdge("switch", "blue", "--hold", "1s", "--socket", d.socket); code != 2 || !strings.Contains(errs, "go with --auto") {
		t.Fatalf("--hold without --auto: %d %q", code, errs)
	}
}
