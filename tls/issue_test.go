package edgetls_test

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	edgetls "github.com/edge-server/edge/tls"
	"github.com/edge-server/edge/tls/pebbletest"
)

// TestIssueHTTP01 obtains a certificate over HTTP-01 answered by the plain fasthttp
// listener, whose only route is a "/" catch-all; HTTPS then verifies against pebble's
// root. TLS-ALPN-01 is off so HTTP-01 is the only way in.
func TestIssueHTTP01(t *testing.T) {
	t.Parallel()
	homeBefore := certmagicHomeState()
	lns := newListeners(t)
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: port(lns.http), TLSPort: port(lns.https)})
	const name = "http01.edge.test"
	cfg := baseConfig(t, p, lns, name)
	cfg.DisableTLSALPNChallenge = true
	log, logs := testLogger(t)
	m := startManager(t, cfg, lns, log)

	body, cs := waitHTTPS(t, addrOf(lns.https), name, p.IssuerRoots())
	if want := "hello from " + name; body != want {
		t.Errorf("HTTPS body = %q, want %q", body, want)
	}
	if cs.NegotiatedProtocol != edgetls.ProtoHTTP11 {
		t.Errorf("negotiated %q, want http/1.1", cs.NegotiatedProtocol)
	}
	if got := p.OrderedNames(); !slices.Equal(got, []string{name}) {
		t.Errorf("ordered names = %v, want [%s]", got, name)
	}
	if n := logs.FilterMessage("answered ACME HTTP-01 challenge").Len(); n == 0 {
		t.Error("no HTTP-01 challenge was answered by HandleHTTPChallenge")
	}
	if logs.FilterMessage("certificate obtained").Len() != 1 {
		t.Errorf("want one 'certificate obtained' log, got %v", logs.FilterMessage("certificate obtained").All())
	}
	// the catch-all still owns every other path on the plain listener
	if body := plainGet(t, addrOf(lns.http), name, "/anything"); body != "catch-all /anything" {
		t.Errorf("plain GET /anything = %q", body)
	}
	if body := plainGet(t, addrOf(lns.http), name, "/.well-known/acme-challenge/stale-token"); !strings.HasPrefix(body, "catch-all") {
		t.Errorf("an unknown token should fall through to the routes, got %q", body)
	}

	st := statusOf(m, name)
	if st.State != edgetls.StateValid || st.Issuer == "" || st.DaysLeft < 80 || st.Error != "" {
		t.Errorf("status = %+v, want valid with issuer and ~90 days", st)
	}
	leaf, err := leafOf(cs)
	if err != nil || !leaf.NotAfter.Equal(st.NotAfter) || leaf.Issuer.CommonName != st.Issuer {
		t.Errorf("status %+v does not describe the served certificate (%v)", st, err)
	}
	if js, err := json.Marshal(m.Status()); err != nil || !strings.Contains(string(js), `"state":"valid"`) ||
		!strings.Contains(string(js), `"not_after":"`) || strings.Contains(string(js), `"error"`) {
		t.Errorf("status JSON = %s (%v)", js, err)
	}
	assertStorageHolds(t, cfg.StorageDir, name)
	if homeAfter := certmagicHomeState(); homeAfter != homeBefore {
		t.Errorf("certmagic's default storage under HOME changed: %q -> %q", homeBefore, homeAfter)
	}
}

// TestIssueTLSALPN01 obtains a certificate over TLS-ALPN-01 answered by the HTTPS
// fasthttp listener itself. Pebble starts before the listeners exist (relay mode), the
// way an end-to-end test through the edge binary would use it.
func TestIssueTLSALPN01(t *testing.T) {
	t.Parallel()
	p := pebbletest.Start(t, pebbletest.Options{})
	lns := newListeners(t)
	p.Forward(addrOf(lns.http), addrOf(lns.https))
	const name = "alpn.edge.test"
	cfg := baseConfig(t, p, lns, name)
	cfg.DisableHTTPChallenge = true
	log, logs := testLogger(t)
	startManager(t, cfg, lns, log)

	body, _ := waitHTTPS(t, addrOf(lns.https), name, p.IssuerRoots())
	if want := "hello from " + name; body != want {
		t.Errorf("HTTPS body = %q, want %q", body, want)
	}
	if n := logs.FilterMessage("answered ACME HTTP-01 challenge").Len(); n != 0 {
		t.Errorf("HTTP-01 was answered %d times although it is disabled", n)
	}
	if got := p.Orders(); got != 1 {
		t.Errorf("orders = %d, want 1", got)
	}
	// Session tickets: a second connection resumes.
	cache := tls.NewLRUClientSessionCache(4)
	var resumed bool
	for i := 0; i < 2; i++ {
		c, err := tls.Dial("tcp", addrOf(lns.https), &tls.Config{ServerName: name, RootCAs: p.IssuerRoots(), ClientSessionCache: cache})
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		// TLS 1.3 tickets arrive after the handshake; a read lets the client take them.
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, _ = c.Read(make([]byte, 1))
		resumed = c.ConnectionState().DidResume
		_ = c.Close()
	}
	if !resumed {
		t.Error("second connection did not resume: session tickets are off")
	}
}

// TestRestartReusesStoredCertificate: a new Manager on the same StorageDir serves the
// stored certificate without placing an order.
func TestRestartReusesStoredCertificate(t *testing.T) {
	t.Parallel()
	first := newListeners(t)
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: port(first.http), TLSPort: port(first.https)})
	const name = "restart.edge.test"
	cfg := baseConfig(t, p, first, name)
	log, _ := testLogger(t)
	m1, err := edgetls.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, m1, first)
	if err := m1.Start(); err != nil {
		t.Fatal(err)
	}
	_, cs1 := waitHTTPS(t, addrOf(first.https), name, p.IssuerRoots())
	shutdown(t, m1)
	orders := p.Orders()
	if orders != 1 {
		t.Fatalf("orders after first start = %d, want 1", orders)
	}
	if locks, _ := filepath.Glob(filepath.Join(cfg.StorageDir, "locks", "*")); len(locks) != 0 {
		t.Errorf("lock files left after Shutdown: %v", locks)
	}

	second := newListeners(t)
	cfg.HTTPPort, cfg.HTTPSPort = port(second.http), port(second.https)
	m2 := startManager(t, cfg, second, log)
	_, cs2 := waitHTTPS(t, addrOf(second.https), name, p.IssuerRoots())
	l1, _ := leafOf(cs1)
	l2, _ := leafOf(cs2)
	if l1.SerialNumber.Cmp(l2.SerialNumber) != 0 {
		t.Errorf("restart serves serial %s, want the stored %s", l2.SerialNumber, l1.SerialNumber)
	}
	if got := p.Orders(); got != orders {
		t.Errorf("restart placed %d new order(s)", got-orders)
	}
	if st := statusOf(m2, name); st.State != edgetls.StateValid {
		t.Errorf("status after restart = %+v", st)
	}
}

// TestUnmanagedNamesGetNothing: names outside Hosts fail the handshake, whatever the
// client offers, and never reach the CA.
func TestUnmanagedNamesGetNothing(t *testing.T) {
	t.Parallel()
	lns := newListeners(t)
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: port(lns.http), TLSPort: port(lns.https)})
	const name = "managed.edge.test"
	log, _ := testLogger(t)
	startManager(t, baseConfig(t, p, lns, name), lns, log)
	waitHTTPS(t, addrOf(lns.https), name, p.IssuerRoots())

	cases := []struct {
		sni    string
		protos []string
	}{
		{"stranger.edge.test", nil},
		{"stranger.edge.test", []string{"http/1.1"}},
		{"stranger.edge.test", []string{"acme-tls/1"}}, // a validation hello for a stranger
		{"", nil},                       // no SNI
		{"sub.managed.edge.test", nil},  // not a wildcard
		{"managed.edge.test.evil", nil}, // suffix games
		{strings.Repeat("a", 300), nil}, // oversize
		{"MANAGED.edge.test", []string{"acme-tls/1", "http/1.1"}}, // mixed ALPN offer
	}
	for _, tc := range cases {
		cs, err := handshake(addrOf(lns.https), tc.sni, tc.protos, nil)
		if err == nil {
			t.Errorf("handshake sni=%q alpn=%v succeeded (%v), want failure", tc.sni, tc.protos, cs.PeerCertificates[0].DNSNames)
		}
	}
	// case-insensitive match for the managed name itself
	if _, err := handshake(addrOf(lns.https), "Managed.Edge.Test", nil, p.IssuerRoots()); err != nil {
		t.Errorf("mixed-case SNI for the managed name: %v", err)
	}
	if got := p.OrderedNames(); !slices.Equal(got, []string{name}) {
		t.Errorf("ordered names = %v, want only %s", got, name)
	}
}

// TestFailedIssuanceIsReported: when validation cannot succeed the failure is logged
// and shows in Status, and serving is unaffected.
func TestFailedIssuanceIsReported(t *testing.T) {
	t.Parallel()
	lns := newListeners(t)
	// pebble validates against ports where nothing answers ACME: the HTTP-01 request
	// gets the catch-all page of a server that does not call HandleHTTPChallenge.
	decoy := listen(t)
	serveCatchAll(t, decoy)
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: port(decoy), TLSPort: port(decoy)})
	const name = "fails.edge.test"
	cfg := baseConfig(t, p, lns, name)
	cfg.DisableTLSALPNChallenge = true
	log, logs := testLogger(t)
	m := startManager(t, cfg, lns, log)

	waitFor(t, "a failed status", issueTimeout, func() bool { return statusOf(m, name).State == edgetls.StateFailed })
	st := statusOf(m, name)
	if st.Error == "" || st.LastError.IsZero() || st.DaysLeft != 0 || !st.NotAfter.IsZero() {
		t.Errorf("failed status = %+v", st)
	}
	if logs.FilterMessage("could not obtain certificate; will retry").Len() == 0 {
		t.Error("failure was not logged")
	}
	if _, err := handshake(addrOf(lns.https), name, nil, nil); err == nil {
		t.Error("handshake succeeded without a certificate")
	}
	// Shutdown abandons the retry loop promptly (checked by startManager's cleanup).
}

func assertStorageHolds(t *testing.T, dir, name string) {
	t.Helper()
	var found bool
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == name+".crt" {
			found = true
		}
		return err
	})
	if err != nil || !found {
		t.Errorf("no %s.crt under StorageDir %s (%v)", name, dir, err)
	}
}

// certmagicHomeState describes certmagic's default storage directory under HOME, which
// edge must never use: "" if it does not exist, else its modification time.
func certmagicHomeState() string {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "no home"
		}
		base = filepath.Join(home, ".local", "share")
	}
	fi, err := os.Stat(filepath.Join(base, "certmagic"))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		return err.Error()
	}
	return fi.ModTime().String()
}

// TestRenewal: a stored certificate close to expiry is renewed when a Manager starts
// on it, the renewal is logged, and the new certificate is served.
func TestRenewal(t *testing.T) {
	t.Parallel()
	p := pebbletest.Start(t, pebbletest.Options{CertValidity: 30 * time.Minute})
	first := newListeners(t)
	p.Forward(addrOf(first.http), addrOf(first.https))
	const name = "renew.edge.test"
	cfg := baseConfig(t, p, first, name)
	log, logs := testLogger(t)
	m1, err := edgetls.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, m1, first)
	if err := m1.Start(); err != nil {
		t.Fatal(err)
	}
	_, cs1 := waitHTTPS(t, addrOf(first.https), name, p.IssuerRoots())
	shutdown(t, m1)

	second := newListeners(t)
	p.Forward(addrOf(second.http), addrOf(second.https))
	cfg.HTTPPort, cfg.HTTPSPort = port(second.http), port(second.https)
	m2 := startManager(t, cfg, second, log)
	old, _ := leafOf(cs1)
	waitFor(t, "a renewed certificate", issueTimeout, func() bool {
		_, cs, err := httpsGet(addrOf(second.https), name, p.IssuerRoots())
		if err != nil {
			return false
		}
		leaf, _ := leafOf(cs)
		return leaf.SerialNumber.Cmp(old.SerialNumber) != 0
	})
	if got := p.Orders(); got != 2 {
		t.Errorf("orders = %d, want 2 (issue + renew)", got)
	}
	if logs.FilterMessage("certificate renewed").Len() != 1 {
		t.Errorf("renewal not logged; 'certificate renewed' entries: %v", logs.FilterMessage("certificate renewed").All())
	}
	if st := statusOf(m2, name); st.State != edgetls.StateValid || st.NotAfter.Before(old.NotAfter) {
		t.Errorf("status after renewal = %+v (old not_after %v)", st, old.NotAfter)
	}
}
