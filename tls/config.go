// Package edgetls obtains and renews certificates over ACME with certmagic and hands the
// proxy a *tls.Config and an HTTP-01 challenge handler as plain values.
package edgetls

// Config is what certificate management needs. cmd/edge fills it from the YAML file.
type Config struct {
	// Hosts are exactly the names to manage; nothing else is ever issued (no on-demand TLS).
	Hosts []string
	// Email is the ACME account contact. Optional but recommended.
	Email string
	// CA is "letsencrypt" (default), "letsencrypt-staging", or an ACME directory URL.
	CA string
	// CARootPEM is an extra root to trust when talking to the ACME server (private CAs,
	// pebble in tests). cmd/edge reads the file named by tls.ca_root.
	CARootPEM []byte
	// StorageDir holds accounts, keys and certificates. Required (state_dir/certs).
	StorageDir string
}
