package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeployScriptArguments runs scripts/deploy-blue-green.sh up to its argument checks
// (the deploy itself needs edge switch and systemd; see docs/deploy.md).
func TestDeployScriptArguments(t *testing.T) {
	const script = "../../scripts/deploy-blue-green.sh"
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "deploy-blue-green.sh deploy   --app web"},
		{nil, 2, "Blue/green deploy"},
		{[]string{"launch"}, 2, "Blue/green deploy"},
		{[]string{"deploy", "--app", "web"}, 2, "--app and --unit are required"},
		{[]string{"deploy", "--app", "web", "--unit", "web.service"}, 2, "--unit must contain %s"},
		{[]string{"deploy", "--app", "web", "--unit", "web@%s", "--wait", "1m"}, 2, "--wait takes whole seconds"},
		{[]string{"deploy", "--bogus"}, 2, "unknown option --bogus"},
		{[]string{"deploy", "--app", "web", "--unit", "web@%s", "--canary", "10,half"}, 2, "--canary takes percentages such as 10,50"},
		{[]string{"deploy", "--app", "web", "--unit", "web@%s", "--step-wait", "1m"}, 2, "--step-wait takes whole seconds"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command("bash", append([]string{script}, tt.args...)...)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != tt.code || !strings.Contains(string(out), tt.want) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and %q", code, out, tt.code, tt.want)
			}
		})
	}
}
