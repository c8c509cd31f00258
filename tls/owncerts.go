package edgetls

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
)

// OwnCertificate is a certificate the operator supplies (a site's `tls: {cert, key}`)
// instead of one obtained over ACME. cmd/edge reads the files; this package only sees
// their bytes.
type OwnCertificate struct {
	// Hosts are the names it is served for. They are not managed over ACME.
	Hosts []string
	// CertPEM is the leaf certificate followed by any intermediates.
	CertPEM []byte
	// KeyPEM is the private key matching the leaf.
	KeyPEM []byte
	// Source names where it came from (the cert file path), for status and errors.
	Source string
}

// ParseOwnCertificate checks a certificate/key pair: both parse, the key belongs to
// the leaf, the leaf is valid now and covers every host. now is passed in so callers
// (and tests) decide what "now" is.
func ParseOwnCertificate(oc OwnCertificate, now time.Time) (*tls.Certificate, error) {
	pair, err := tls.X509KeyPair(oc.CertPEM, oc.KeyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, fmt.Errorf("the key does not belong to the certificate %s", oc.Source)
		}
		return nil, fmt.Errorf("certificate %s and its key cannot be loaded: %v", oc.Source, err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certificate %s cannot be parsed: %v", oc.Source, err)
		}
		pair.Leaf = leaf
	}
	switch {
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("certificate %s expired on %s", oc.Source, leaf.NotAfter.UTC().Format(time.DateOnly))
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("certificate %s is not valid before %s", oc.Source, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	for _, h := range oc.Hosts {
		if err := leaf.VerifyHostname(h); err != nil {
			return nil, fmt.Errorf("certificate %s does not cover host %q (it names %s)", oc.Source, h, certNames(leaf))
		}
	}
	return &pair, nil
}

func certNames(leaf *x509.Certificate) string {
	names := leaf.DNSNames
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = []string{leaf.Subject.CommonName}
	}
	if len(names) == 0 {
		return "no host"
	}
	return strings.Join(names, ", ")
}

// ownCertSet is what handshakes look up: lowercase name → certificate.
type ownCertSet struct {
	byName map[string]*tls.Certificate
	source map[string]string
	names  []string // in config order
}

// SetOwnCertificates replaces the operator-supplied certificates (at start, on
// reload, or when cmd/edge sees a file change). Every pair is checked first; if one
// is bad nothing changes and the error says which. Names here must not also be in
// Config.Hosts (cmd/edge keeps them apart).
func (m *Manager) SetOwnCertificates(certs []OwnCertificate) error {
	set := &ownCertSet{byName: map[string]*tls.Certificate{}, source: map[string]string{}}
	now := time.Now()
	for _, oc := range certs {
		c, err := ParseOwnCertificate(oc, now)
		if err != nil {
			return err
		}
		for _, h := range oc.Hosts {
			name, err := hostName(h)
			if err != nil {
				return err
			}
			if _, dup := set.byName[name]; !dup {
				set.names = append(set.names, name)
			}
			set.byName[name], set.source[name] = c, oc.Source
		}
	}
	old := m.own.Swap(set)
	if old == nil || !sameOwn(old, set) {
		m.log.Info("serving own certificates", zap.Strings("hosts", set.names))
	}
	return nil
}

func sameOwn(a, b *ownCertSet) bool {
	if len(a.byName) != len(b.byName) {
		return false
	}
	for n, c := range a.byName {
		d, ok := b.byName[n]
		if !ok || d.Leaf == nil || c.Leaf == nil || !d.Leaf.Equal(c.Leaf) {
			return false
		}
	}
	return true
}

// ownCertificate returns the operator's certificate for a handshake name, or nil.
func (m *Manager) ownCertificate(serverName string) *tls.Certificate {
	set := m.own.Load()
	if set == nil || len(set.byName) == 0 || serverName == "" {
		return nil
	}
	if c, ok := set.byName[serverName]; ok {
		return c
	}
	name, err := hostName(serverName)
	if err != nil {
		return nil
	}
	return set.byName[name]
}

// ownStatus reports the operator's certificates for Status.
func (m *Manager) ownStatus(now time.Time) []CertStatus {
	set := m.own.Load()
	if set == nil {
		return nil
	}
	out := make([]CertStatus, 0, len(set.names))
	for _, n := range set.names {
		leaf := set.byName[n].Leaf
		st := CertStatus{Name: n, State: StateValid, Source: "file " + set.source[n],
			Issuer: leaf.Issuer.CommonName, NotAfter: leaf.NotAfter,
			DaysLeft: int(leaf.NotAfter.Sub(now).Hours() / 24)}
		if now.After(leaf.NotAfter) {
			st.State = StateExpired
		}
		out = append(out, st)
	}
	return out
}
