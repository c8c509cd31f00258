package edgetls

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// CertState is where a managed name stands.
type CertState string

const (
	StatePending   CertState = "pending"   // no certificate and no attempt yet
	StateObtaining CertState = "obtaining" // an order is in progress
	StateValid     CertState = "valid"     // a certificate is being served
	StateFailed    CertState = "failed"    // no certificate; the last attempt failed (certmagic retries)
	StateExpired   CertState = "expired"   // the certificate in memory has expired
)

// CertStatus describes one managed name, for `edge status` and metrics.
type CertStatus struct {
	Name     string    `json:"name"`
	State    CertState `json:"state"`
	Issuer   string    `json:"issuer,omitempty"`   // issuing CA certificate's common name, e.g. "R11"
	NotAfter time.Time `json:"not_after,omitzero"` // expiry of the certificate being served
	DaysLeft int       `json:"days_left"`          // whole days until NotAfter (negative once expired; 0 without a certificate)
	// Error is the last failed attempt to obtain or renew, cleared by a success. With
	// State "valid" it means a renewal is failing while the old certificate still serves.
	Error     string    `json:"error,omitempty"`
	LastError time.Time `json:"last_error,omitzero"`
	// Source is "file PATH" for a certificate the operator supplies; "" for ACME.
	Source string `json:"source,omitempty"`
}

// Status reports every managed name, in Config.Hosts order.
func (m *Manager) Status() []CertStatus {
	now := time.Now()
	hosts := m.hosts.Load().names
	out := make([]CertStatus, 0, len(hosts))
	for _, name := range hosts {
		st := m.book.get(name)
		if leaf := m.servedLeaf(name); leaf != nil {
			st.State = StateValid
			st.Issuer = leaf.Issuer.CommonName
			st.NotAfter = leaf.NotAfter
			st.DaysLeft = int(leaf.NotAfter.Sub(now).Hours() / 24)
			if now.After(leaf.NotAfter) {
				st.State = StateExpired
			}
		} else if st.State == StateValid {
			// obtained but not yet loaded into memory
			st.State = StateObtaining
		}
		out = append(out, st)
	}
	return append(out, m.ownStatus(now)...)
}

// servedLeaf is the certificate a handshake for name gets: the latest-expiring one in
// certmagic's in-memory cache or, until certmagic has loaded it, the one read from
// storage at start (the handshake's fallback, stored.go). Without the fallback a
// restarted instance reported "pending" for names it was already serving.
func (m *Manager) servedLeaf(name string) *x509.Certificate {
	var best *x509.Certificate
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if c.Leaf != nil && (best == nil || c.Leaf.NotAfter.After(best.NotAfter)) {
			best = c.Leaf
		}
	}
	if best == nil {
		if sc := m.stored.get(name); sc != nil {
			best = sc.Leaf
		}
	}
	return best
}

// statusBook remembers what certmagic's events said about each name.
type statusBook struct {
	mu    sync.Mutex
	names map[string]*CertStatus
}

func newStatusBook(hosts []string) *statusBook {
	b := &statusBook{names: make(map[string]*CertStatus, len(hosts))}
	for _, h := range hosts {
		b.names[h] = &CertStatus{Name: h, State: StatePending}
	}
	return b
}

func (b *statusBook) add(names []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range names {
		if _, ok := b.names[n]; !ok {
			b.names[n] = &CertStatus{Name: n, State: StatePending}
		}
	}
}

func (b *statusBook) remove(names []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range names {
		delete(b.names, n)
	}
}

func (b *statusBook) get(name string) CertStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	if st, ok := b.names[name]; ok {
		return *st
	}
	return CertStatus{Name: name, State: StatePending}
}

func (b *statusBook) update(name string, f func(*CertStatus)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if st, ok := b.names[name]; ok {
		f(st)
	}
}

// Events this package reacts to; certmagic skips building the others (notably the
// per-handshake tls_get_certificate).
var handledEvents = map[string]bool{
	"cert_obtaining":      true,
	"cert_obtained":       true,
	"cert_failed":         true,
	"cached_managed_cert": true,
	"cert_ocsp_revoked":   true,
}

func shouldEmit(event string) bool { return handledEvents[event] }

// onEvent logs certificate events and records them for Status. It never vetoes.
func (m *Manager) onEvent(ctx context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	renewal, _ := data["renewal"].(bool)
	switch event {
	case "cert_obtaining":
		m.book.update(name, func(st *CertStatus) {
			if st.State != StateValid {
				st.State = StateObtaining
			}
		})
		m.log.Info("requesting certificate", zap.String("host", name), zap.Bool("renewal", renewal))
	case "cert_obtained":
		// Each outcome is logged before the status changes: whoever sees the new status
		// (edge status, a test) finds the event in the log as well.
		issuer, _ := data["issuer"].(string)
		msg := "certificate obtained"
		if renewal {
			msg = "certificate renewed"
		}
		m.log.Info(msg, zap.String("host", name), zap.String("ca", issuer))
		m.book.update(name, func(st *CertStatus) {
			st.State = StateValid
			st.Error, st.LastError = "", time.Time{}
		})
	case "cert_failed":
		err, _ := data["error"].(error)
		if err == nil {
			err = errors.New("unknown error")
		}
		switch {
		case m.ctx.Err() != nil || ctx.Err() != nil:
			m.log.Info("certificate request abandoned at shutdown", zap.String("host", name))
		case renewal:
			m.log.Error("could not renew certificate; will retry", zap.String("host", name), zap.Error(err))
		default:
			m.log.Error("could not obtain certificate; will retry", zap.String("host", name), zap.Error(err))
		}
		m.book.update(name, func(st *CertStatus) {
			if st.State != StateValid {
				st.State = StateFailed
			}
			st.Error, st.LastError = err.Error(), time.Now()
		})
	case "cached_managed_cert":
		sans, _ := data["sans"].([]string)
		m.log.Debug("certificate loaded", zap.Strings("names", sans))
	case "cert_ocsp_revoked":
		subjects, _ := data["subjects"].([]string)
		m.log.Warn("certificate revoked (OCSP); replacing it", zap.Strings("names", subjects),
			zap.String("reason", fmt.Sprint(data["reason"])))
	}
	return nil
}
