package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-server/edge/internal/config"
	"github.com/edge-server/edge/proxy"
)

// TestDoctorDatabaseProblems covers the database check alone: in-memory store, a server
// that is down (password never printed), and a migrated one.
func TestDoctorDatabaseProblems(t *testing.T) {
	down := "postgres://edge:s3cret-pw@" + freeAddr(t) + "/edge?connect_timeout=5"
	tests := []struct {
		dsn  string
		want string
	}{
		{"", "✘ chat.database_url is empty: chat messages live in memory"},
		{down, "✘ Postgres postgres://edge:xxxxx@127.0.0.1:"},
		{chatDatabase(t, true), "is reachable and has the chat schema"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		cfg := config.Default("x.yaml")
		cfg.ChatEnabled, cfg.Chat.DatabaseURL = true, tt.dsn
		d := &doctor{cfg: cfg, out: &out, timeout: 10 * time.Second, now: time.Now}
		d.checkDatabase(context.Background())
		if !strings.Contains(out.String(), tt.want) || strings.Contains(out.String(), "s3cret") {
			t.Errorf("dsn %q:\n%s", redactDSN(tt.dsn), out.String())
		}
	}
}

func TestDoctorCertificateProblems(t *testing.T) {
	state := t.TempDir()
	writeCert(t, state, "acme-staging-v02.api.letsencrypt.org-directory", "stage.test", doctorNow.Add(50*24*time.Hour))
	writeCert(t, state, "x", "soon.test", doctorNow.Add(5*24*time.Hour))
	writeCert(t, state, "x", "other.test", doctorNow.Add(50*24*time.Hour))
	// A file named for wrong.test holding other.test's certificate.
	_ = os.MkdirAll(filepath.Join(state, "certs", "certificates", "x", "wrong.test"), 0o700)
	b, _ := os.ReadFile(filepath.Join(state, "certs", "certificates", "x", "other.test", "other.test.crt"))
	_ = os.WriteFile(filepath.Join(state, "certs", "certificates", "x", "wrong.test", "wrong.test.crt"), b, 0o600)
	_ = os.MkdirAll(filepath.Join(state, "certs", "certificates", "x", "junk.test"), 0o700)
	_ = os.WriteFile(filepath.Join(state, "certs", "certificates", "x", "junk.test", "junk.test.crt"), []byte("garbage"), 0o600)
	tests := map[string]string{
		"stage.test":   "! certificate stage.test comes from a staging CA",
		"soon.test":    "✘ certificate soon.test expires in 5 day(s) (2026-06-06) and was not renewed",
		"wrong.test":   "✘ certificate wrong.test (" + state,
		"junk.test":    "✘ certificate junk.test is unreadable",
		"missing.test": "✘ certificate missing.test: none yet although edge runs",
	}
	for host, want := range tests {
		var out bytes.Buffer
		cfg := config.Default("x.yaml")
		cfg.StateDir = state
		cfg.Proxy.Sites = []proxy.SiteConfig{{Hosts: []string{host}}}
		d := &doctor{cfg: cfg, out: &out, now: func() time.Time { return doctorNow }, running: true}
		d.checkCertificates()
		if !strings.Contains(out.String(), want) {
			t.Errorf("%s: got\n%s\nwant %q", host, out.String(), want)
		}
	}
}

func TestParseEnvFile(t *testing.T) {
	good := "# comment\n; also\n\nA=1\nB = two words \nC=\"quoted \\\"x\\\" \\$HOME\"\nD='single $x'\nE=line\\\n continued\nF=\n"
	vars, err := parseEnvFile(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B": "two words", "C": `quoted "x" $HOME`, "D": "single $x", "E": "line continued", "F": ""}
	if fmt.Sprint(vars) != fmt.Sprint(want) {
		t.Errorf("got %q\nwant %q", vars, want)
	}
	for _, bad := range []string{"NOEQUALS\n", "1A=x\n", "A=\"open\n", "A=\"a\"b\"\n", "A=x\\", "export A=1\n", strings.Repeat("A=1\n", maxEnvFileBytes)} {
		if _, err := parseEnvFile(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %.40q", bad)
		} else if len(err.Error()) > 200 {
			t.Errorf("error echoes the input: %d bytes", len(err.Error()))
		}
	}
}

func FuzzParseEnvFile(f *testing.F) {
	f.Add("A=1\n")
	f.Add("A=\"x\\\"y\"\nB='z'\n#c\n")
	f.Add("A=\\\n")
	f.Fuzz(func(t *testing.T, s string) {
		vars, err := parseEnvFile(strings.NewReader(s))
		if err != nil {
			return
		}
		for k := range vars {
			if !envName.MatchString(k) {
				t.Fatalf("invalid name %q accepted", k)
			}
		}
	})
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h/db":                "postgres://u:xxxxx@h/db",
		"postgres://h/db":                     "postgres://h/db",
		"host=h password=pw user=u":           "host=h password=xxxxx user=u",
		"host=h password='p w' user=u":        "host=h password=xxxxx user=u",
		"failed: password authentication xyz": "failed: password authentication xyz",
	} {
		if got := redactDSN(in); got != want {
			t.Errorf("redactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}
