package edgetls

import (
	"context"
	"crypto/tls"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// storedCerts are the certificates found in storage when New ran, by name. The
// handshake falls back to them only while certmagic's cache has nothing for a name:
// Start's ManageAsync loads stored certificates in the background, after the proxy
// already accepts, so after `systemctl restart edge` the HTTPS connections queued
// during the restart were handshaken in that gap and failed with "tls: internal error"
// (issue 14, measured under a real systemd). Read once, never changed: no locking.
type storedCerts map[string]*tls.Certificate

// storedLoadTimeout bounds reading the stored certificates in New.
const storedLoadTimeout = 10 * time.Second

func loadStoredCerts(storage certmagic.Storage, issuerKey string, hosts []string, log *zap.Logger) storedCerts {
	ctx, cancel := context.WithTimeout(context.Background(), storedLoadTimeout)
	defer cancel()
	out := storedCerts{}
	for _, host := range hosts {
		certPEM, err := storage.Load(ctx, certmagic.StorageKeys.SiteCert(issuerKey, host))
		if err != nil {
			continue // none yet: Start obtains one
		}
		keyPEM, err := storage.Load(ctx, certmagic.StorageKeys.SitePrivateKey(issuerKey, host))
		if err != nil {
			continue
		}
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil || c.Leaf == nil || !time.Now().Before(c.Leaf.NotAfter) {
			log.Debug("stored certificate not usable until certmagic renews it", zap.String("host", host), zap.Error(err))
			continue
		}
		out[host] = &c
	}
	return out
}

// get returns the stored certificate for name if it is still valid.
func (s storedCerts) get(name string) *tls.Certificate {
	if c := s[name]; c != nil && time.Now().Before(c.Leaf.NotAfter) {
		return c
	}
	return nil
}
