// Package edgetls obtains and renews certificates over ACME with certmagic and hands the
// proxy a *tls.Config and an HTTP-01 challenge handler as plain values.
//
// Certificates are requested for exactly Config.Hosts, never for other names (there is
// no on-demand issuance). Both ACME challenges are answered on edge's own listeners:
// HTTP-01 by HandleHTTPChallenge on the plain-HTTP listener, TLS-ALPN-01 by the
// GetCertificate of TLSConfig on the HTTPS listener.
package edgetls

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/caddyserver/certmagic"
)

// Config is what certificate management needs. cmd/edge fills it from the YAML file.
type Config struct {
	// Hosts are exactly the names to manage; nothing else is ever issued (no on-demand
	// TLS). Names are matched case-insensitively; wildcards and IP addresses are refused.
	// Default: none (every handshake fails, no CA is contacted).
	Hosts []string
	// Email is the ACME account contact. Default "" (an account without contact; the CA
	// cannot warn about expiry problems). Recommended.
	Email string
	// CA is "letsencrypt", "letsencrypt-staging", or an ACME directory URL (https, or
	// http on loopback only). Default "" means "letsencrypt".
	CA string
	// CAs, when not empty, replaces CA with a list of CAs (same forms as CA) tried in
	// order: when one fails to issue, the next is asked. Default: none (CA alone).
	CAs []string
	// CARootPEM holds extra PEM roots to trust, in addition to the system roots, when
	// talking to the ACME server (private CAs, pebble in tests). cmd/edge reads the file
	// named by tls.ca_root. Default: none.
	CARootPEM []byte
	// StorageDir holds accounts, keys and certificates (created 0700 if missing).
	// Required: cmd/edge passes state_dir/certs. HOME is never used. With Storage set
	// it only has to be writable (nothing is kept there).
	StorageDir string
	// Storage replaces the FileStorage in StorageDir with a storage shared by a fleet
	// (a *PostgresStorage): certificates are then ordered once for all instances,
	// each waiting on the storage's lock, and any instance answers a challenge that
	// another one started. Default nil: FileStorage in StorageDir, challenges answered
	// from memory.
	Storage certmagic.Storage

	// ListenHost is the host part of edge's own HTTP and HTTPS listen addresses.
	// certmagic probes ListenHost:HTTPPort / ListenHost:HTTPSPort before a challenge and
	// only opens a listener of its own if nothing answers there; Start refuses to run
	// unless edge's listeners already answer. Default "" (all interfaces).
	ListenHost string
	// HTTPPort is the port of edge's plain-HTTP listener, which answers HTTP-01 through
	// HandleHTTPChallenge. The CA always validates on port 80, so anything else needs a
	// port forward (or a test CA pointed at it). Default 80.
	HTTPPort int
	// HTTPSPort is the port of edge's HTTPS listener, which answers TLS-ALPN-01 through
	// TLSConfig's GetCertificate. The CA validates on 443; see HTTPPort. Default 443.
	HTTPSPort int
	// DisableHTTPChallenge turns HTTP-01 off (e.g. when edge has no plain-HTTP
	// listener). Default false.
	DisableHTTPChallenge bool
	// DisableTLSALPNChallenge turns TLS-ALPN-01 off. Default false.
	DisableTLSALPNChallenge bool
}

// Names of the built-in CAs accepted in Config.CA.
const (
	CALetsEncrypt        = "letsencrypt"
	CALetsEncryptStaging = "letsencrypt-staging"
)

// Defaults applied by New.
const (
	DefaultCA        = CALetsEncrypt
	DefaultHTTPPort  = 80
	DefaultHTTPSPort = 443
)

// settings is a validated, normalized Config.
type settings struct {
	hosts       []string            // lowercase, deduplicated, in the given order
	hostSet     map[string]struct{} // same names, for lookups during handshakes
	email       string
	caURLs      []string       // in the order they are tried
	roots       *x509.CertPool // nil: system roots only
	storageDir  string
	storage     certmagic.Storage // FileStorage in storageDir unless Config.Storage
	storageName string            // for logs
	shared      bool              // Config.Storage given: distributed challenge solving
	listenHost  string
	httpPort    int
	httpsPort   int
	noHTTP01    bool
	noALPN01    bool
}

// check validates cfg and fills in defaults. Every problem is a *ConfigError naming the
// field, so cmd/edge can point at the right config key.
func (cfg Config) check() (*settings, error) {
	s := &settings{
		email:      strings.TrimSpace(cfg.Email),
		listenHost: cfg.ListenHost,
		httpPort:   cfg.HTTPPort,
		httpsPort:  cfg.HTTPSPort,
		noHTTP01:   cfg.DisableHTTPChallenge,
		noALPN01:   cfg.DisableTLSALPNChallenge,
		hostSet:    make(map[string]struct{}, len(cfg.Hosts)),
	}
	if cfg.StorageDir == "" {
		return nil, configErrorf("StorageDir", "no storage directory for certificates (state_dir/certs) was given")
	}
	dir, err := filepath.Abs(cfg.StorageDir)
	if err != nil {
		return nil, configErrorf("StorageDir", "storage directory %q: %v", cfg.StorageDir, err)
	}
	s.storageDir = dir
	s.storage, s.storageName = &certmagic.FileStorage{Path: dir}, dir
	if cfg.Storage != nil {
		s.storage, s.shared = cfg.Storage, true
		s.storageName = fmt.Sprint(cfg.Storage)
	}
	cas := cfg.CAs
	if len(cas) == 0 {
		cas = []string{cfg.CA}
	}
	for _, ca := range cas {
		u, err := caURL(ca)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(s.caURLs, u) {
			s.caURLs = append(s.caURLs, u)
		}
	}
	if s.email != "" && (!strings.Contains(s.email, "@") || strings.ContainsAny(s.email, " \t\r\n<>,")) {
		return nil, configErrorf("Email", "%q is not an email address", cfg.Email)
	}
	if len(cfg.CARootPEM) > 0 {
		if s.roots, err = rootPool(cfg.CARootPEM); err != nil {
			return nil, err
		}
	}
	if s.httpPort == 0 {
		s.httpPort = DefaultHTTPPort
	}
	if s.httpsPort == 0 {
		s.httpsPort = DefaultHTTPSPort
	}
	if s.httpPort < 1 || s.httpPort > 65535 {
		return nil, configErrorf("HTTPPort", "port %d is out of range", cfg.HTTPPort)
	}
	if s.httpsPort < 1 || s.httpsPort > 65535 {
		return nil, configErrorf("HTTPSPort", "port %d is out of range", cfg.HTTPSPort)
	}
	if s.noHTTP01 && s.noALPN01 {
		return nil, configErrorf("DisableHTTPChallenge", "both ACME challenges are disabled; no certificate could ever be obtained")
	}
	for _, h := range cfg.Hosts {
		name, err := hostName(h)
		if err != nil {
			return nil, err
		}
		if _, dup := s.hostSet[name]; dup {
			continue
		}
		s.hostSet[name] = struct{}{}
		s.hosts = append(s.hosts, name)
	}
	return s, nil
}

// caURL maps Config.CA to an ACME directory URL.
func caURL(ca string) (string, error) {
	switch ca {
	case "", CALetsEncrypt:
		return certmagic.LetsEncryptProductionCA, nil
	case CALetsEncryptStaging:
		return certmagic.LetsEncryptStagingCA, nil
	}
	u, err := url.Parse(ca)
	if err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", configErrorf("CA", "%q is not %s, %s or an ACME directory URL (https://…)", ca, CALetsEncrypt, CALetsEncryptStaging)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return "", configErrorf("CA", "%q: an ACME directory must be https unless it is on loopback", ca)
	}
	return u.String(), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// rootPool returns the system roots plus every certificate in pemBytes.
func rootPool(pemBytes []byte) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	n := 0
	for rest := pemBytes; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, configErrorf("CARootPEM", "certificate %d cannot be parsed: %v", n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, configErrorf("CARootPEM", "holds no PEM certificate")
	}
	return pool, nil
}

// hostName normalizes and checks one host name: lowercase ASCII, no trailing dot,
// labels of letters, digits and hyphens.
func hostName(h string) (string, error) {
	name := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	switch {
	case name == "":
		return "", configErrorf("Hosts", "empty host name")
	case len(name) > 253:
		return "", configErrorf("Hosts", "host %.40q… is longer than 253 characters", h)
	case strings.HasPrefix(name, "*."):
		return "", configErrorf("Hosts", "host %q is a wildcard; wildcard certificates need the DNS challenge, which edge does not do", h)
	case net.ParseIP(strings.Trim(name, "[]")) != nil:
		return "", configErrorf("Hosts", "host %q is an IP address; edge only manages certificates for DNS names", h)
	}
	for _, label := range strings.Split(name, ".") {
		if err := checkLabel(label); err != "" {
			return "", configErrorf("Hosts", "host %q is not a DNS name: %s", h, err)
		}
	}
	return name, nil
}

func checkLabel(label string) string {
	if label == "" {
		return "empty label"
	}
	if len(label) > 63 {
		return "a label is longer than 63 characters"
	}
	if label[0] == '-' || label[len(label)-1] == '-' {
		return "a label starts or ends with '-'"
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Sprintf("character %q is not allowed (use punycode for international names)", c)
		}
	}
	return ""
}
