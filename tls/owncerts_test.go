package edgetls_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	edgetls "github.com/edge-server/edge/tls"
	"github.com/edge-server/edge/tls/pebbletest"
)

// selfSigned makes a certificate for names valid from notBefore to notAfter, in PEM.
func selfSigned(t testing.TB, serial int64, notBefore, notAfter time.Time, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: names[0]},
		Issuer: pkix.Name{CommonName: "edge test"}, DNSNames: names,
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func TestParseOwnCertificate(t *testing.T) {
	now := time.Now()
	good, goodKey := selfSigned(t, 1, now.Add(-time.Hour), now.Add(90*24*time.Hour), "own.edge.test", "www.own.edge.test")
	_, otherKey := selfSigned(t, 2, now.Add(-time.Hour), now.Add(time.Hour), "x.edge.test")
	old, oldKey := selfSigned(t, 3, now.Add(-48*time.Hour), now.Add(-24*time.Hour), "own.edge.test")
	tests := []struct {
		name      string
		oc        edgetls.OwnCertificate
		wantError string
	}{
		{"good", edgetls.OwnCertificate{Hosts: []string{"own.edge.test", "WWW.own.edge.test"}, CertPEM: good, KeyPEM: goodKey, Source: "a.pem"}, ""},
		{"key of another cert", edgetls.OwnCertificate{Hosts: []string{"own.edge.test"}, CertPEM: good, KeyPEM: otherKey, Source: "a.pem"}, "does not belong to the certificate a.pem"},
		{"expired", edgetls.OwnCertificate{Hosts: []string{"own.edge.test"}, CertPEM: old, KeyPEM: oldKey, Source: "old.pem"}, "certificate old.pem expired on"},
		{"other host", edgetls.OwnCertificate{Hosts: []string{"elsewhere.test"}, CertPEM: good, KeyPEM: goodKey, Source: "a.pem"}, `does not cover host "elsewhere.test"`},
		{"not PEM", edgetls.OwnCertificate{Hosts: []string{"own.edge.test"}, CertPEM: []byte("hello"), KeyPEM: goodKey, Source: "a.pem"}, "cannot be loaded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := edgetls.ParseOwnCertificate(tc.oc, now)
			if (err == nil) != (tc.wantError == "") || (err != nil && !strings.Contains(err.Error(), tc.wantError)) {
				t.Fatalf("err %v, want %q", err, tc.wantError)
			}
		})
	}
}

// TestOwnCertificateServedAndReplaced: a name with an own certificate is served
// from it without any CA (the ACME directory is dead), a replacement is served on
// the next handshake, a bad replacement changes nothing, and status reports expiry.
func TestOwnCertificateServedAndReplaced(t *testing.T) {
	t.Parallel()
	lns := newListeners(t)
	cfg := edgetls.Config{CA: "http://127.0.0.1:1/dead-directory", StorageDir: t.TempDir(),
		ListenHost: "127.0.0.1", HTTPPort: port(lns.http), HTTPSPort: port(lns.https)}
	m := startManager(t, cfg, lns, nil)
	now := time.Now()
	const name = "own.edge.test"
	c1, k1 := selfSigned(t, 101, now.Add(-time.Hour), now.Add(30*24*time.Hour), name)
	if err := m.SetOwnCertificates([]edgetls.OwnCertificate{{Hosts: []string{name}, CertPEM: c1, KeyPEM: k1, Source: "/etc/edge/own.pem"}}); err != nil {
		t.Fatal(err)
	}
	serial := func() int64 {
		t.Helper()
		cs, err := handshake(addrOf(lns.https), name, []string{"http/1.1"}, nil)
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		return cs.PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial(); s != 101 {
		t.Fatalf("served serial %d, want 101", s)
	}
	st := statusOf(m, name)
	if st.State != edgetls.StateValid || st.Source != "file /etc/edge/own.pem" || st.DaysLeft < 28 || st.DaysLeft > 30 {
		t.Fatalf("status %+v", st)
	}
	if _, err := handshake(addrOf(lns.https), name, []string{edgetls.ProtoACMETLS1}, nil); err == nil {
		t.Fatal("an acme-tls/1 hello for an own-certificate name got a certificate")
	}
	c2, k2 := selfSigned(t, 102, now.Add(-time.Hour), now.Add(60*24*time.Hour), name)
	if err := m.SetOwnCertificates([]edgetls.OwnCertificate{{Hosts: []string{name}, CertPEM: c2, KeyPEM: k1, Source: "x"}}); err == nil {
		t.Fatal("a mismatched pair was accepted")
	}
	if s := serial(); s != 101 {
		t.Fatalf("after a refused replacement, served serial %d, want 101", s)
	}
	if err := m.SetOwnCertificates([]edgetls.OwnCertificate{{Hosts: []string{name}, CertPEM: c2, KeyPEM: k2, Source: "x"}}); err != nil {
		t.Fatal(err)
	}
	if s := serial(); s != 102 {
		t.Fatalf("after the replacement, served serial %d, want 102", s)
	}
}

// TestCAListFallsBack: the first CA in the list does not answer, the second (pebble)
// issues.
func TestCAListFallsBack(t *testing.T) {
	t.Parallel()
	lns := newListeners(t)
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: port(lns.http), TLSPort: port(lns.https)})
	const name = "fallback.edge.test"
	cfg := baseConfig(t, p, lns, name)
	cfg.CAs = []string{"http://127.0.0.1:1/dead-directory", p.DirectoryURL}
	m := startManager(t, cfg, lns, nil)
	waitHTTPS(t, addrOf(lns.https), name, p.IssuerRoots())
	if st := statusOf(m, name); st.State != edgetls.StateValid {
		t.Fatalf("status %+v", st)
	}
}
