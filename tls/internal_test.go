package edgetls

import (
	"context"
	"strings"
	"testing"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestHostOnly(t *testing.T) {
	cases := map[string]string{
		"a.example.com":      "a.example.com",
		"a.example.com:8080": "a.example.com",
		"a.example.com:":     "a.example.com",
		"[::1]:80":           "::1",
		"[::1]":              "::1",
		"[::1":               "[::1",
		"::1":                "::1", // bare IPv6 without brackets: not a host:port
		"":                   "",
		":80":                "",
	}
	for in, want := range cases {
		if got := string(hostOnly([]byte(in))); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzHostOnly(f *testing.F) {
	for _, s := range []string{"a.example.com:80", "[::1]:443", "[", "]:", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := hostOnly([]byte(in))
		if len(out) > len(in) || !strings.Contains(in, string(out)) {
			t.Errorf("hostOnly(%q) = %q is not a part of its input", in, out)
		}
	})
}

// FuzzManagedName: the SNI/Host matcher never panics and only ever accepts names that
// equal a managed host case-insensitively (trailing dot allowed).
func FuzzManagedName(f *testing.F) {
	for _, s := range []string{"a.example.com", "A.Example.COM.", "b.example.com", "", ".", "a.example.com..", "*.example.com"} {
		f.Add(s)
	}
	m := &Manager{}
	m.hosts.Store(&hostList{names: []string{"a.example.com"}, set: map[string]struct{}{"a.example.com": {}}})
	f.Fuzz(func(t *testing.T, in string) {
		name, ok := m.managedName(in)
		want := strings.EqualFold(strings.TrimSuffix(in, "."), "a.example.com")
		if ok != want || (ok && name != "a.example.com") {
			t.Errorf("managedName(%q) = %q, %v; want match %v", in, name, ok, want)
		}
	})
}

func TestCertmagicLoggerLevels(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	stopping, stop := context.WithCancel(context.Background())
	l := certmagicLogger(zap.New(core), stopping)
	l.Info("routine chatter")
	l.Warn("a warning")
	l.Error("an error")
	stop()
	l.Error("cancelled at shutdown")
	var got []string
	for _, e := range logs.All() {
		got = append(got, e.Level.String()+" "+e.Message)
	}
	want := []string{"warn a warning", "error an error", "info cancelled at shutdown (during shutdown)"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("logged %q, want %q", got, want)
	}
}

// The issuers are exactly the configured CAs, in order: certmagic.New's default
// (Let's Encrypt production) must never be tried first or at all.
func TestIssuersAreTheConfiguredCAs(t *testing.T) {
	want := []string{"https://127.0.0.1:1/a/dir", "https://127.0.0.1:1/b/dir"}
	m, err := New(Config{Hosts: []string{"x.edge.test"}, StorageDir: t.TempDir(), CAs: want}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	var got []string
	for _, is := range m.magic.Issuers {
		acme, ok := is.(*certmagic.ACMEIssuer)
		if !ok {
			t.Fatalf("issuer %T is not an ACME issuer", is)
		}
		got = append(got, acme.CA)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("issuers %q, want %q", got, want)
	}
}
