package edgetls

import (
	"crypto/tls"

	"github.com/mholt/acmez/v3"
)

// ALPN protocols offered on the HTTPS listener: fasthttp speaks HTTP/1.1 only, and
// acme-tls/1 lets the TLS-ALPN-01 challenge be answered on the same listener.
const (
	ProtoHTTP11   = "http/1.1"
	ProtoACMETLS1 = acmez.ACMETLS1Protocol // "acme-tls/1"
)

// modernCipherSuites are the TLS 1.2 suites offered: ECDHE key exchange with AEAD
// ciphers only. TLS 1.3 suites are not configurable in Go and are all modern.
var modernCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig is the configuration for edge's HTTPS listener (always the same pointer; do
// not modify it, Clone it if needed). TLS 1.2 minimum, AEAD suites, session tickets on
// (keys rotated by crypto/tls), ALPN exactly ["http/1.1", "acme-tls/1"].
//
// Its GetCertificate refuses names outside Config.Hosts (and hellos without SNI) before
// certmagic sees them, so a stranger's name never causes a lookup or an order. A
// connection that negotiated acme-tls/1 carried a challenge handshake only; the proxy
// should close it rather than read HTTP from it.
func (m *Manager) TLSConfig() *tls.Config { return m.tlsConf }

func (m *Manager) newTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   modernCipherSuites,
		NextProtos:     []string{ProtoHTTP11, ProtoACMETLS1},
		GetCertificate: m.getCertificate,
	}
}

func (m *Manager) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := m.ownCertificate(hello.ServerName); c != nil {
		for _, p := range hello.SupportedProtos {
			if p == ProtoACMETLS1 { // no ACME for these names: no challenge to answer
				return nil, &HandshakeError{Code: CodeChallengeOff, ServerName: hello.ServerName}
			}
		}
		return c, nil
	}
	name, ok := m.managedName(hello.ServerName)
	if !ok {
		return nil, &HandshakeError{Code: CodeUnmanagedName, ServerName: hello.ServerName}
	}
	for _, p := range hello.SupportedProtos {
		if p != ProtoACMETLS1 {
			continue
		}
		// RFC 8737: a validation hello offers acme-tls/1 alone. Anything else offering
		// it would otherwise get a normal certificate and negotiate acme-tls/1.
		if m.s.noALPN01 {
			return nil, &HandshakeError{Code: CodeChallengeOff, ServerName: name}
		}
		if len(hello.SupportedProtos) != 1 {
			return nil, &HandshakeError{Code: CodeChallengeMixed, ServerName: name}
		}
	}
	c, err := m.magic.GetCertificate(hello)
	if err != nil && !offersACMETLS(hello) {
		if sc := m.stored.get(name); sc != nil {
			return sc, nil
		}
	}
	return c, err
}

func offersACMETLS(hello *tls.ClientHelloInfo) bool {
	for _, p := range hello.SupportedProtos {
		if p == ProtoACMETLS1 {
			return true
		}
	}
	return false
}

// managedName reports whether host (a SNI value or Host header without port) is one
// of Config.Hosts, case-insensitively, and returns the canonical lowercase form. It
// does not allocate for names that are already lowercase.
func (m *Manager) managedName(host string) (string, bool) {
	if host == "" {
		return "", false
	}
	set := m.hosts.Load().set
	if _, ok := set[host]; ok {
		return host, true
	}
	if !hasUpper(host) && host[len(host)-1] != '.' {
		return "", false
	}
	name, err := hostName(host)
	if err != nil {
		return "", false
	}
	_, ok := set[name]
	return name, ok
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
