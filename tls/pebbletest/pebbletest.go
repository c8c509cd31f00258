// Package pebbletest runs a real ACME server (Let's Encrypt's pebble, as a Go module)
// on loopback inside a test, with a tiny DNS server that resolves every name to
// 127.0.0.1, so certificates can be obtained end to end without the internet.
//
//	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: httpPort, TLSPort: httpsPort})
//	cfg := edgetls.Config{CA: p.DirectoryURL, CARootPEM: p.ServerRootPEM, ...}
//	... serve, then verify served certificates against p.IssuerRoots() ...
//
// Pebble validates HTTP-01 on 127.0.0.1:HTTPPort and TLS-ALPN-01 on 127.0.0.1:TLSPort.
// When those ports are not known yet (e.g. edge is started later as a separate
// process), leave them 0: pebble then validates against relay ports it owns, and
// Forward points the relays at the real listeners once they exist.
package pebbletest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// Options configure Start. The zero value is usable (relay mode, logs to t).
type Options struct {
	// HTTPPort and TLSPort are where pebble's validation authority connects on
	// 127.0.0.1 for HTTP-01 and TLS-ALPN-01. 0 means a relay port; see Forward.
	HTTPPort, TLSPort int
	// CertValidity is the lifetime of issued certificates; 0 means pebble's default
	// (90 days). certmagic renews anything expiring within 50 minutes at once, so a
	// short lifetime makes the next start renew.
	CertValidity time.Duration
	// Quiet drops pebble's request log instead of sending it to t.Log.
	Quiet bool
}

// Pebble is a running ACME server. Everything stops in t.Cleanup.
type Pebble struct {
	// DirectoryURL is the ACME directory, https://127.0.0.1:PORT/dir.
	DirectoryURL string
	// ServerRootPEM is the root of the ACME server's own HTTPS certificate: give it to
	// the ACME client (edgetls.Config.CARootPEM, edge's tls.ca_root).
	ServerRootPEM []byte
	// IssuerRootPEM is pebble's issuing root: certificates it issues chain up to it.
	IssuerRootPEM []byte
	// HTTPPort and TLSPort are where validation connects on 127.0.0.1 (the relay ports
	// in relay mode).
	HTTPPort, TLSPort int
	// DNSAddr is the DNS server (TCP) pebble resolves identifiers with.
	DNSAddr string

	orders *orderLog
	relays [2]*relay // HTTP, TLS; nil unless in relay mode
}

// IssuerRoots is a pool holding IssuerRootPEM, for verifying served certificates.
func (p *Pebble) IssuerRoots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.IssuerRootPEM)
	return pool
}

// Orders is how many orders pebble has created (newOrder requests answered 201).
func (p *Pebble) Orders() int { return p.orders.count() }

// RefusedOrders lists the statuses of newOrder requests pebble refused (e.g. 400 for
// a bad nonce, which ACME clients retry); they created no order.
func (p *Pebble) RefusedOrders() []int {
	p.orders.mu.Lock()
	defer p.orders.mu.Unlock()
	return append([]int(nil), p.orders.rejected...)
}

// OrderedNames lists the identifiers of every created order, in arrival order.
func (p *Pebble) OrderedNames() []string { return p.orders.names() }

// Forward points the relays at the real HTTP and TLS listeners (host:port). Only valid
// when Options.HTTPPort/TLSPort were 0; it may be called again to re-point them.
func (p *Pebble) Forward(httpAddr, tlsAddr string) {
	if p.relays[0] == nil || p.relays[1] == nil {
		panic("pebbletest: Forward needs Options.HTTPPort and TLSPort left 0")
	}
	p.relays[0].setTarget(httpAddr)
	p.relays[1].setTarget(tlsAddr)
}

// envOnce sets pebble's tuning variables. Pebble reads them from the environment in
// va.New and wfe.New; they affect nothing else in the process.
var envOnce sync.Once

func setPebbleEnv() {
	envOnce.Do(func() {
		for k, v := range map[string]string{
			"PEBBLE_VA_NOSLEEP":      "1", // validate at once, not after 0–5 s of sleep
			"PEBBLE_WFE_NONCEREJECT": "0", // no random badNonce errors
			"PEBBLE_AUTHZREUSE":      "0", // every order validates afresh
		} {
			_ = os.Setenv(k, v)
		}
	})
}

// Start runs pebble (CA, VA, WFE) over HTTPS on 127.0.0.1 and its DNS server, and
// stops them in t.Cleanup. It fails the test if anything cannot start.
func Start(t testing.TB, opts Options) *Pebble {
	t.Helper()
	setPebbleEnv()
	logw := &testWriter{t: t, quiet: opts.Quiet}
	t.Cleanup(logw.stop) // registered first: runs last, after every server is down
	logger := log.New(logw, "pebble ", log.Lmicroseconds)

	p := &Pebble{orders: &orderLog{}}
	p.DNSAddr = startDNS(t)
	p.HTTPPort, p.TLSPort = opts.HTTPPort, opts.TLSPort
	if p.HTTPPort == 0 {
		p.relays[0] = startRelay(t)
		p.HTTPPort = p.relays[0].port()
	}
	if p.TLSPort == 0 {
		p.relays[1] = startRelay(t)
		p.TLSPort = p.relays[1].port()
	}
	if (p.relays[0] == nil) != (p.relays[1] == nil) {
		t.Fatal("pebbletest: give both HTTPPort and TLSPort, or neither")
	}

	store := db.NewMemoryStore()
	profiles := map[string]ca.Profile{"default": {
		Description:    "pebbletest default profile",
		ValidityPeriod: uint64(opts.CertValidity / time.Second),
	}}
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, profiles)
	validator := va.New(logger, p.HTTPPort, p.TLSPort, false, p.DNSAddr, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	p.IssuerRootPEM = authority.GetRootCert(0).PEM()

	serverCert, rootPEM, err := newServerCert()
	if err != nil {
		t.Fatalf("pebbletest: making the ACME server's certificate: %v", err)
	}
	p.ServerRootPEM = rootPEM
	handler, err := p.orders.wrap(front.Handler())
	if err != nil {
		t.Fatalf("pebbletest: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pebbletest: listening for the ACME server: %v", err)
	}
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          logger,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Printf("ACME server stopped: %v", err)
		}
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	p.DirectoryURL = fmt.Sprintf("https://%s%s", ln.Addr(), wfe.DirectoryPath)
	return p
}

// testWriter sends pebble's log lines to t.Log until the test's cleanup, then drops
// them: pebble's validation goroutines can outlive the servers.
type testWriter struct {
	mu    sync.Mutex
	t     testing.TB
	quiet bool
	done  bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done && !w.quiet {
		w.t.Log(string(trimNewline(b)))
	}
	return len(b), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}

var _ io.Writer = (*testWriter)(nil)
