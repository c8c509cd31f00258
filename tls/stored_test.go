package edgetls_test

import (
	"testing"
	"time"

	"github.com/edge-server/edge/tls/pebbletest"

	edgetls "github.com/edge-server/edge/tls"
)

// TestStoredCertificateServedBeforeStart is `systemctl restart edge` with HTTPS: the new
// process accepts the queued connections as soon as its proxy listens, before Start's
// background management has loaded anything. The certificate already in storage must
// be served from the first handshake, and no new order placed.
func TestStoredCertificateServedBeforeStart(t *testing.T) {
	t.Parallel()
	p := pebbletest.Start(t, pebbletest.Options{Quiet: true})
	first := newListeners(t)
	p.Forward(addrOf(first.http), addrOf(first.https))
	const name = "stored.edge.test"
	cfg := baseConfig(t, p, first, name)
	log, _ := testLogger(t)
	m1 := startManager(t, cfg, first, log)
	_, cs1 := waitHTTPS(t, addrOf(first.https), name, p.IssuerRoots())
	shutdown(t, m1)
	orders := p.Orders()

	second := newListeners(t)
	p.Forward(addrOf(second.http), addrOf(second.https))
	cfg.HTTPPort, cfg.HTTPSPort = port(second.http), port(second.https)
	m2, err := edgetls.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, m2) })
	serve(t, m2, second) // listening, Start not called yet
	_, cs2, err := httpsGet(addrOf(second.https), name, p.IssuerRoots())
	if err != nil {
		t.Fatalf("first handshake after a restart, before Start: %v", err)
	}
	old, _ := leafOf(cs1)
	got, _ := leafOf(cs2)
	if got.SerialNumber.Cmp(old.SerialNumber) != 0 {
		t.Errorf("served serial %v, want the stored %v", got.SerialNumber, old.SerialNumber)
	}
	if err := m2.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if p.Orders() != orders {
		t.Errorf("orders %d → %d; the stored certificate should have been reused", orders, p.Orders())
	}
}
