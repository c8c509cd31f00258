package edgetls

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Manager obtains and renews the certificates for Config.Hosts and serves them.
// Create it with New, hand TLSConfig and HandleHTTPChallenge to the proxy, call Start
// once the proxy's listeners are up, and Shutdown at exit.
type Manager struct {
	log     *zap.Logger
	s       *settings
	storage *countingStorage
	cache   *certmagic.Cache
	magic   *certmagic.Config
	issuers []*certmagic.ACMEIssuer // one per CA, in the order certmagic tries them
	tlsConf *tls.Config
	stored  storedCerts // what storage held at New; a handshake fallback (stored.go)
	book    *statusBook
	hosts   atomic.Pointer[hostList]   // managed names; replaced by SetHosts
	own     atomic.Pointer[ownCertSet] // operator-supplied certificates; SetOwnCertificates

	ctx    context.Context // cancelled by Shutdown; bounds every ACME operation
	cancel context.CancelFunc

	mu      sync.Mutex
	started bool
	stopped bool
}

// New validates cfg, prepares the storage directory and the certmagic configuration.
// It contacts no CA and opens no socket (it does start certmagic's maintenance
// goroutine: always call Shutdown). Start does the rest. Errors about cfg are
// *ConfigError values.
func New(cfg Config, log *zap.Logger) (*Manager, error) {
	s, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if err := prepareStorageDir(s.storageDir); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("tls")
	ctx, cancel := context.WithCancel(context.Background())
	cmLog := certmagicLogger(log, ctx)
	m := &Manager{
		log:     log,
		s:       s,
		storage: &countingStorage{Storage: s.storage},
		book:    newStatusBook(s.hosts),
		ctx:     ctx,
		cancel:  cancel,
	}
	// The cache and config are private to this Manager: certmagic.NewDefault() and its
	// package-level Default/DefaultACME would share state (and a storage under HOME).
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return m.magic, nil },
		Logger:           cmLog,
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{
		Storage:        m.storage,
		Logger:         cmLog,
		OnEvent:        m.onEvent,
		ShouldEmitFunc: shouldEmit,
	})
	// One issuer per CA: certmagic tries them in this order and moves to the next
	// when one fails to issue.
	m.stored = storedCerts{}
	m.magic.Issuers = nil // certmagic.New put its default (Let's Encrypt) issuer there
	for _, ca := range s.caURLs {
		issuer := certmagic.NewACMEIssuer(m.magic, certmagic.ACMEIssuer{
			CA:                      ca,
			Email:                   s.email,
			Agreed:                  true, // configuring a CA is agreeing to its terms; never prompt
			DisableHTTPChallenge:    s.noHTTP01,
			DisableTLSALPNChallenge: s.noALPN01,
			// Alone, challenges are answered from memory by this process's listeners.
			// With a shared storage (a fleet), the CA may reach any instance: certmagic
			// then writes each challenge to storage and every instance answers from it.
			DisableDistributedSolvers: !s.shared,
			ListenHost:                s.listenHost,
			AltHTTPPort:               s.httpPort,
			AltTLSALPNPort:            s.httpsPort,
			TrustedRoots:              s.roots,
			Logger:                    cmLog,
		})
		m.magic.Issuers = append(m.magic.Issuers, issuer)
		m.issuers = append(m.issuers, issuer)
		// Stored certificates of every issuer are a handshake fallback; for a name
		// stored under several, the one that lasts longest.
		for host, c := range loadStoredCerts(m.storage, issuer.IssuerKey(), s.hosts, log) {
			if old := m.stored[host]; old == nil || c.Leaf.NotAfter.After(old.Leaf.NotAfter) {
				m.stored[host] = c
			}
		}
	}
	m.hosts.Store(&hostList{names: s.hosts, set: s.hostSet})
	m.tlsConf = m.newTLSConfig()
	return m, nil
}

// Name is the service name used in logs and errors.
func (m *Manager) Name() string { return "tls" }

// Start begins managing Config.Hosts in the background: certificates found in storage
// are loaded at once, missing ones are obtained, all are renewed before expiry. It
// returns without waiting for any CA. Handshakes for a name without a certificate yet
// fail until one arrives.
//
// Start must run after edge's HTTP and HTTPS listeners are accepting: it checks that
// something answers on the challenge ports, because certmagic would otherwise open
// listeners of its own there.
func (m *Manager) Start() error {
	m.mu.Lock()
	switch {
	case m.stopped:
		m.mu.Unlock()
		return errShutDown
	case m.started:
		m.mu.Unlock()
		return errStartedTwice
	}
	m.started = true
	defer m.mu.Unlock() // SetHosts waits until management has started
	hosts := m.hosts.Load().names
	if len(hosts) == 0 {
		m.log.Warn("no hosts to manage over ACME; handshakes succeed only for names with an own certificate")
		return nil
	}
	if err := m.checkChallengeListeners(); err != nil {
		return err
	}
	m.log.Info("managing certificates",
		zap.Strings("hosts", hosts),
		zap.Strings("ca", m.s.caURLs),
		zap.String("storage", m.s.storageName),
		zap.Bool("http_01", !m.s.noHTTP01),
		zap.Bool("tls_alpn_01", !m.s.noALPN01))
	if err := m.magic.ManageAsync(m.ctx, hosts); err != nil {
		return fmt.Errorf("starting certificate management for %v: %w", hosts, err)
	}
	return nil
}

// Shutdown stops renewals and abandons any issuance in progress, then waits (until ctx
// ends) for certmagic to release its storage locks. Certificates already loaded keep
// being served by TLSConfig, so the proxy can drain after this returns.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return nil
	}
	m.stopped = true
	m.mu.Unlock()

	m.cancel()
	stopped := make(chan struct{})
	go func() {
		m.cache.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		return fmt.Errorf("stopping certificate maintenance: %w", ctx.Err())
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for m.storage.locksHeld() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("waiting for certificate storage locks to be released: %w", ctx.Err())
		}
	}
	return nil
}

// checkChallengeListeners makes sure something (edge's proxy) answers where the CA's
// validation requests arrive, so certmagic's solvers find the ports busy and use them
// instead of binding their own.
func (m *Manager) checkChallengeListeners() error {
	check := func(port int, what, knob string) error {
		addr := net.JoinHostPort(m.s.listenHost, strconv.Itoa(port))
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			return fmt.Errorf("nothing answers on %s for the %s challenge (%v); start edge's listeners before certificate management, or set %s", addr, what, err, knob)
		}
		_ = c.Close()
		return nil
	}
	if !m.s.noHTTP01 {
		if err := check(m.s.httpPort, "HTTP-01", "DisableHTTPChallenge"); err != nil {
			return err
		}
	}
	if !m.s.noALPN01 {
		if err := check(m.s.httpsPort, "TLS-ALPN-01", "DisableTLSALPNChallenge"); err != nil {
			return err
		}
	}
	return nil
}

// prepareStorageDir creates dir (0700) and proves it is writable, so a bad state_dir
// fails at startup instead of after the CA has issued a certificate.
func prepareStorageDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return configErrorf("StorageDir", "cannot create %q: %v", dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return configErrorf("StorageDir", "%q is not writable: %v", dir, err)
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return configErrorf("StorageDir", "cannot remove test file in %q: %v", dir, err)
	}
	return nil
}
