package main

import (
	"bytes"
	"strings"
	"testing"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = runCLI(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLIHelpOnEveryVerb(t *testing.T) {
	for name := range verbs {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCmd(name, "--help")
			if code != 0 || !strings.Contains(out, "Usage: edge "+name) || errOut != "" {
				t.Errorf("edge %s --help: code %d, stdout %q, stderr %q", name, code, out, errOut)
			}
		})
	}
}

func TestCLIBadInput(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		stderrIn string
	}{
		{nil, 2, ""},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"validate", "--no-such-flag"}, 2, "flag provided but not defined: -no-such-flag"},
		{[]string{"validate", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"validate", "--config", "testdata/config/does-not-exist.yaml"}, 1, "no such file or directory"},
		{[]string{"validate", "--config", "../../internal/config/testdata/config/three_mistakes.yaml"}, 1, "3 problem(s)"},
		{[]string{"run", "--config", "../../internal/config/testdata/config/three_mistakes.yaml"}, 1, "refusing to start"},
		{[]string{"run", "--log-level", "loud", "--config", "x"}, 2, `--log-level "loud"`},
		{[]string{"version", "extra"}, 2, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runCmd(tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.stderrIn) {
				t.Errorf("code %d stderr %q; want code %d and %q", code, errOut, tt.code, tt.stderrIn)
			}
		})
	}
}

func TestCLIValidateReportsAllThreeMistakes(t *testing.T) {
	code, _, errOut := runCmd("validate", "--config", "../../internal/config/testdata/config/three_mistakes.yaml")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"three_mistakes.yaml:7:", "three_mistakes.yaml:10:", "three_mistakes.yaml:12:"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestCLIValidateExample(t *testing.T) {
	code, out, errOut := runCmd("validate", "--config", "../../configs/edge.example.yaml")
	if code != 0 || !strings.Contains(out, "is valid") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestCLIVersion(t *testing.T) {
	code, out, _ := runCmd("version")
	if code != 0 || !strings.HasPrefix(out, "edge ") {
		t.Errorf("version: %d %q", code, out)
	}
}
