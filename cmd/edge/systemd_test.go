package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// unitCopy writes systemd/edge.{service,socket} into a temp dir with the binary path
// replaced by bin (systemd-analyze verify requires ExecStart's binary to exist).
func unitCopy(t *testing.T, bin string, edit func(service string) string) (service, socket string) {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"edge.service", "edge.socket"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), "/usr/local/bin/edge", bin)
		if name == "edge.service" && edit != nil {
			s = edit(s)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "edge.service"), filepath.Join(dir, "edge.socket")
}

func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze is missing; install Debian package systemd (scripts/prereqs.sh does): %v", err)
	}
	return p
}

// edgeBinary is an executable that runs the edge CLI: this test binary with
// EDGE_TEST_CHILD=edge (see TestMain), so the units are checked against a real file.
func edgeBinary(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSystemdUnitsVerify(t *testing.T) {
	tool := systemdAnalyze(t)
	service, socket := unitCopy(t, edgeBinary(t), nil)
	out, err := exec.Command(tool, "verify", socket, service).CombinedOutput()
	// verify exits 0 on unknown keys and only prints them, so any output is a failure.
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(tool, "security", "--offline=true", "--threshold=20", service).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security rates edge.service above 2.0 (exposure): %v\n%s", err, lastLines(string(out), 5))
	}
}

// TestSystemdVerifyCatchesMistakes proves the check above can fail.
func TestSystemdVerifyCatchesMistakes(t *testing.T) {
	tool := systemdAnalyze(t)
	for name, edit := range map[string]func(string) string{
		"typo in a key": func(s string) string { return strings.Replace(s, "LockPersonality=", "LockPersonalty=", 1) },
		"missing binary": func(s string) string {
			return strings.Replace(s, "ExecStart="+edgeBinary(t), "ExecStart=/nonexistent/edge", 1)
		},
	} {
		t.Run(name, func(t *testing.T) {
			service, socket := unitCopy(t, edgeBinary(t), edit)
			out, err := exec.Command(tool, "verify", socket, service).CombinedOutput()
			if err == nil && len(strings.TrimSpace(string(out))) == 0 {
				t.Errorf("verify accepted a broken unit")
			}
		})
	}
}

// TestSystemdUnitsContract pins what issue 8 and docs/deploy.md rely on.
func TestSystemdUnitsContract(t *testing.T) {
	b, err := os.ReadFile("../../systemd/edge.service")
	if err != nil {
		t.Fatal(err)
	}
	svc := string(b)
	for _, line := range []string{
		"Type=notify", "NotifyAccess=main", "Requires=edge.socket",
		"ExecStart=/usr/local/bin/edge run --config /etc/edge/edge.yaml",
		"ExecReload=/usr/local/bin/edge reload --config /etc/edge/edge.yaml",
		"User=edge", "AmbientCapabilities=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
		"StateDirectory=edge", "RuntimeDirectory=edge", "RuntimeDirectoryPreserve=yes", "ConfigurationDirectory=edge",
		"EnvironmentFile=-/etc/edge/edge.env", "LimitNOFILE=262144", "Restart=on-failure",
		"NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
		"ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectControlGroups=yes",
		"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "RestrictNamespaces=yes", "LockPersonality=yes",
		"MemoryDenyWriteExecute=yes", "SystemCallFilter=@system-service",
	} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line)).MatchString(svc) {
			t.Errorf("edge.service lacks %q", line)
		}
	}
	// The stop timeout must outlast edge run's default drain (--shutdown-timeout 30s).
	if !strings.Contains(svc, "\nTimeoutStopSec=45s\n") {
		t.Errorf("edge.service: TimeoutStopSec must be 45s (30s drain + margin)")
	}
	s, err := os.ReadFile("../../systemd/edge.socket")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"ListenStream=80\n", "ListenStream=443\n", "BindIPv6Only=both\n"} {
		if !strings.Contains(string(s), "\n"+line) {
			t.Errorf("edge.socket lacks %q", line)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
