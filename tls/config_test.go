package edgetls_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	edgetls "github.com/edge-server/edge/tls"
	"github.com/edge-server/edge/tls/pebbletest"
	"go.uber.org/zap"
)

// A certificate that is not a valid DER body inside a well-formed PEM block.
const brokenPEM = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		edit  func(*edgetls.Config)
		field string
		want  string
	}{
		{"empty storage dir", func(c *edgetls.Config) { c.StorageDir = "" }, "StorageDir", "no storage directory"},
		{"storage dir is a file", func(c *edgetls.Config) { c.StorageDir = notADir }, "StorageDir", "cannot create"},
		{"storage dir under a file", func(c *edgetls.Config) { c.StorageDir = filepath.Join(notADir, "certs") }, "StorageDir", "cannot create"},
		{"bad CA name", func(c *edgetls.Config) { c.CA = "lets-encrypt" }, "CA", "is not letsencrypt, letsencrypt-staging or an ACME directory URL"},
		{"CA without scheme", func(c *edgetls.Config) { c.CA = "acme.example.com/dir" }, "CA", "not letsencrypt"},
		{"CA ftp", func(c *edgetls.Config) { c.CA = "ftp://acme.example.com/dir" }, "CA", "not letsencrypt"},
		{"CA with credentials", func(c *edgetls.Config) { c.CA = "https://u:p@acme.example.com/dir" }, "CA", "not letsencrypt"},
		{"CA unparsable", func(c *edgetls.Config) { c.CA = "https://%zz" }, "CA", "not letsencrypt"},
		{"CA plain http off loopback", func(c *edgetls.Config) { c.CA = "http://acme.example.com/dir" }, "CA", "must be https"},
		{"root PEM garbage", func(c *edgetls.Config) { c.CARootPEM = []byte("not a pem file") }, "CARootPEM", "holds no PEM certificate"},
		{"root PEM key only", func(c *edgetls.Config) {
			c.CARootPEM = []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
		}, "CARootPEM", "holds no PEM certificate"},
		{"root PEM broken DER", func(c *edgetls.Config) { c.CARootPEM = []byte(brokenPEM) }, "CARootPEM", "cannot be parsed"},
		{"email without at", func(c *edgetls.Config) { c.Email = "nobody" }, "Email", "not an email address"},
		{"email with spaces", func(c *edgetls.Config) { c.Email = "a b@example.com" }, "Email", "not an email address"},
		{"wildcard host", func(c *edgetls.Config) { c.Hosts = []string{"*.example.com"} }, "Hosts", "wildcard"},
		{"IP host", func(c *edgetls.Config) { c.Hosts = []string{"192.0.2.1"} }, "Hosts", "IP address"},
		{"IPv6 host", func(c *edgetls.Config) { c.Hosts = []string{"[::1]"} }, "Hosts", "IP address"},
		{"empty host", func(c *edgetls.Config) { c.Hosts = []string{" "} }, "Hosts", "empty host"},
		{"host with port", func(c *edgetls.Config) { c.Hosts = []string{"example.com:443"} }, "Hosts", "not a DNS name"},
		{"host with path", func(c *edgetls.Config) { c.Hosts = []string{"example.com/x"} }, "Hosts", "not a DNS name"},
		{"host with empty label", func(c *edgetls.Config) { c.Hosts = []string{"a..example.com"} }, "Hosts", "empty label"},
		{"host label hyphen", func(c *edgetls.Config) { c.Hosts = []string{"-a.example.com"} }, "Hosts", "starts or ends"},
		{"host unicode", func(c *edgetls.Config) { c.Hosts = []string{"bücher.example"} }, "Hosts", "punycode"},
		{"host too long", func(c *edgetls.Config) { c.Hosts = []string{strings.Repeat("a.", 130) + "com"} }, "Hosts", "longer than 253"},
		{"label too long", func(c *edgetls.Config) { c.Hosts = []string{strings.Repeat("a", 64) + ".com"} }, "Hosts", "longer than 63"},
		{"both challenges off", func(c *edgetls.Config) { c.DisableHTTPChallenge, c.DisableTLSALPNChallenge = true, true }, "DisableHTTPChallenge", "both ACME challenges"},
		{"http port", func(c *edgetls.Config) { c.HTTPPort = 70000 }, "HTTPPort", "out of range"},
		{"https port", func(c *edgetls.Config) { c.HTTPSPort = -1 }, "HTTPSPort", "out of range"},
	}
	if os.Geteuid() != 0 { // root ignores directory permissions
		cases = append(cases, struct {
			name  string
			edit  func(*edgetls.Config)
			field string
			want  string
		}{"storage dir read-only", func(c *edgetls.Config) { c.StorageDir = readOnly }, "StorageDir", "not writable"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := edgetls.Config{Hosts: []string{"a.example.com"}, StorageDir: t.TempDir()}
			tc.edit(&cfg)
			m, err := edgetls.New(cfg, zap.NewNop())
			if err == nil {
				_ = m.Shutdown(context.Background())
				t.Fatalf("New accepted %+v", cfg)
			}
			var ce *edgetls.ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v (%T), want field %s and %q", err, err, tc.field, tc.want)
			}
		})
	}
}

func TestNewAcceptsAndNormalizes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  edgetls.Config
	}{
		{"defaults", edgetls.Config{}},
		{"production", edgetls.Config{CA: "letsencrypt", Email: "ops@example.com"}},
		{"staging", edgetls.Config{CA: "letsencrypt-staging"}},
		{"private CA", edgetls.Config{CA: "https://acme.internal:14000/dir"}},
		{"http on loopback", edgetls.Config{CA: "http://127.0.0.1:14000/dir"}},
		{"hosts normalized", edgetls.Config{Hosts: []string{"WWW.Example.com.", "www.example.com", "xn--bcher-kva.example"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.StorageDir = filepath.Join(t.TempDir(), "state", "certs")
			m, err := edgetls.New(cfg, nil)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer shutdown(t, m)
			if fi, err := os.Stat(cfg.StorageDir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
				t.Errorf("storage dir not created 0700: %v %v", fi, err)
			}
			for _, st := range m.Status() {
				if st.State != edgetls.StatePending || st.Name != strings.ToLower(st.Name) {
					t.Errorf("fresh status = %+v", st)
				}
			}
		})
	}
	t.Run("dedupe", func(t *testing.T) {
		m, err := edgetls.New(edgetls.Config{Hosts: []string{"WWW.Example.com.", "www.example.com"}, StorageDir: t.TempDir()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer shutdown(t, m)
		if st := m.Status(); len(st) != 1 || st[0].Name != "www.example.com" {
			t.Errorf("status = %+v, want one www.example.com", st)
		}
	})
}

func TestTLSConfigShape(t *testing.T) {
	t.Parallel()
	m, err := edgetls.New(edgetls.Config{Hosts: []string{"a.example.com"}, StorageDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, m)
	c := m.TLSConfig()
	if c != m.TLSConfig() {
		t.Error("TLSConfig returns a new value each call")
	}
	if c.MinVersion != tls.VersionTLS12 || c.SessionTicketsDisabled || c.GetCertificate == nil || len(c.Certificates) != 0 {
		t.Errorf("tls.Config = min %x, tickets off %v, GetCertificate %v, static certs %d",
			c.MinVersion, c.SessionTicketsDisabled, c.GetCertificate != nil, len(c.Certificates))
	}
	if got := strings.Join(c.NextProtos, ","); got != "http/1.1,acme-tls/1" {
		t.Errorf("NextProtos = %v", c.NextProtos)
	}
	for _, id := range c.CipherSuites {
		name := tls.CipherSuiteName(id)
		if !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "GCM") || strings.Contains(name, "CHACHA20")) {
			t.Errorf("cipher suite %s is not ECDHE+AEAD", name)
		}
	}
}

// TestHandshakePolicy exercises TLSConfig on a real listener without any certificate:
// old protocol versions and unmanaged names are refused before certmagic is asked.
func TestHandshakePolicy(t *testing.T) {
	t.Parallel()
	lns := newListeners(t)
	m, err := edgetls.New(edgetls.Config{Hosts: []string{"a.example.com"}, StorageDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, m)
	serve(t, m, lns)
	dial := func(cfg *tls.Config) error {
		c, err := tls.Dial("tcp", addrOf(lns.https), cfg)
		if err == nil {
			_ = c.Close()
		}
		return err
	}
	if err := dial(&tls.Config{ServerName: "a.example.com", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true}); err == nil ||
		!strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.1 handshake: %v, want a protocol version alert", err)
	}
	// managed but no certificate yet (Start not called): fails, does not hang
	if err := dial(&tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true}); err == nil {
		t.Error("handshake for a name without a certificate succeeded")
	}
	cfg := m.TLSConfig()
	for _, tc := range []struct {
		sni    string
		protos []string
		code   string
	}{
		{"", nil, edgetls.CodeUnmanagedName},
		{"b.example.com", nil, edgetls.CodeUnmanagedName},
		{"a.example.com.evil", nil, edgetls.CodeUnmanagedName},
		{"a.example.com", []string{"acme-tls/1", "http/1.1"}, edgetls.CodeChallengeMixed},
	} {
		_, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: tc.sni, SupportedProtos: tc.protos})
		var he *edgetls.HandshakeError
		if !errors.As(err, &he) || he.Code != tc.code || he.Error() == "" {
			t.Errorf("GetCertificate(%q, %v) = %v, want code %s", tc.sni, tc.protos, err, tc.code)
		}
	}
}

func TestHandshakeRefusesChallengeWhenDisabled(t *testing.T) {
	t.Parallel()
	m, err := edgetls.New(edgetls.Config{Hosts: []string{"a.example.com"}, StorageDir: t.TempDir(), DisableTLSALPNChallenge: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, m)
	_, err = m.TLSConfig().GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example.com", SupportedProtos: []string{"acme-tls/1"}})
	var he *edgetls.HandshakeError
	if !errors.As(err, &he) || he.Code != edgetls.CodeChallengeOff {
		t.Errorf("err = %v, want %s", err, edgetls.CodeChallengeOff)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	t.Run("start refuses when nothing listens", func(t *testing.T) {
		ln := listen(t)
		closedPort := port(ln)
		_ = ln.Close()
		m, err := edgetls.New(edgetls.Config{Hosts: []string{"a.example.com"}, StorageDir: t.TempDir(),
			ListenHost: "127.0.0.1", HTTPPort: closedPort, HTTPSPort: closedPort}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer shutdown(t, m)
		if err := m.Start(); err == nil || !strings.Contains(err.Error(), "nothing answers on 127.0.0.1:") {
			t.Errorf("Start = %v, want a 'nothing answers' error", err)
		}
	})
	t.Run("start twice, start after shutdown, shutdown twice", func(t *testing.T) {
		m, err := edgetls.New(edgetls.Config{StorageDir: t.TempDir()}, nil) // no hosts: Start is a no-op
		if err != nil {
			t.Fatal(err)
		}
		if m.Name() != "tls" {
			t.Errorf("Name = %q", m.Name())
		}
		if err := m.Start(); err != nil {
			t.Fatalf("Start: %v", err)
		}
		if err := m.Start(); err == nil {
			t.Error("second Start succeeded")
		}
		shutdown(t, m)
		shutdown(t, m)
		if err := m.Start(); err == nil {
			t.Error("Start after Shutdown succeeded")
		}
	})
	t.Run("shutdown honours its deadline", func(t *testing.T) {
		m, err := edgetls.New(edgetls.Config{StorageDir: t.TempDir()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		// Either outcome is fine for an already-expired context, but it must return.
		done := make(chan struct{})
		go func() { _ = m.Shutdown(ctx); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("Shutdown with an expired context did not return")
		}
	})
}

// TestShutdownDuringIssuance abandons an order in flight: Shutdown returns promptly and
// leaves no lock file for the next start.
func TestShutdownDuringIssuance(t *testing.T) {
	t.Parallel()
	lns := newListeners(t)
	// validation is pointed at a listener that accepts and never answers, so the
	// order stays pending until Shutdown cancels it
	stall := listen(t)
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := stall.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: port(stall), TLSPort: port(stall)})
	cfg := baseConfig(t, p, lns, "stall.edge.test")
	log, _ := testLogger(t)
	m, err := edgetls.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, m, lns)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an order at pebble", issueTimeout, func() bool { return p.Orders() > 0 })
	start := time.Now()
	shutdown(t, m)
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if locks, _ := filepath.Glob(filepath.Join(cfg.StorageDir, "locks", "*")); len(locks) != 0 {
		t.Errorf("lock files left: %v", locks)
	}
}
