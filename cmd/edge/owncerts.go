package main

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/edge-server/edge/internal/config"
	edgetls "github.com/edge-server/edge/tls"
)

// ownCertInterval is how often the files are checked for a change (a renewal by
// another tool, e.g. certbot or a corporate PKI agent).
const ownCertInterval = 10 * time.Second

// readOwnCerts reads every pair; errors name the file.
func readOwnCerts(files []config.OwnCert) ([]edgetls.OwnCertificate, error) {
	out := make([]edgetls.OwnCertificate, 0, len(files))
	for _, f := range files {
		cert, err := os.ReadFile(f.Cert)
		if err != nil {
			return nil, fmt.Errorf("reading certificate: %w", unwrapPathError(err))
		}
		key, err := os.ReadFile(f.Key)
		if err != nil {
			return nil, fmt.Errorf("reading key: %w", unwrapPathError(err))
		}
		out = append(out, edgetls.OwnCertificate{Hosts: f.Hosts, CertPEM: cert, KeyPEM: key, Source: f.Cert})
	}
	return out, nil
}

// ownCertWatcher hands the certificate manager the operator's certificates and
// re-reads them when a file's size or modification time changes. A bad new pair is
// logged and the previous one keeps serving.
type ownCertWatcher struct {
	set func([]edgetls.OwnCertificate) error
	log *zap.Logger

	mu    sync.Mutex
	files []config.OwnCert
	seen  []fileStamp
}

type fileStamp struct {
	size int64
	mod  time.Time
}

func newOwnCertWatcher(set func([]edgetls.OwnCertificate) error, log *zap.Logger) *ownCertWatcher {
	return &ownCertWatcher{set: set, log: log.Named("owncerts")}
}

// apply loads files now (start and reload): an error leaves what was served.
func (w *ownCertWatcher) apply(files []config.OwnCert) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	stamps := stampsOf(files)
	certs, err := readOwnCerts(files)
	if err == nil {
		err = w.set(certs)
	}
	if err != nil {
		return err
	}
	w.files, w.seen = files, stamps
	return nil
}

// poll re-reads the files when one changed since the last successful load.
func (w *ownCertWatcher) poll() {
	w.mu.Lock()
	files, seen := w.files, w.seen
	w.mu.Unlock()
	if len(files) == 0 || slices.Equal(stampsOf(files), seen) {
		return
	}
	if err := w.apply(files); err != nil {
		w.log.Error("a certificate file changed but cannot be served; the previous certificate stays", zap.Error(err))
		w.mu.Lock()
		w.seen = stampsOf(files) // say it once per change, not every poll
		w.mu.Unlock()
		return
	}
	w.log.Info("reloaded changed certificate files")
}

func stampsOf(files []config.OwnCert) []fileStamp {
	out := make([]fileStamp, 0, 2*len(files))
	for _, f := range files {
		for _, p := range []string{f.Cert, f.Key} {
			var st fileStamp
			if fi, err := os.Stat(p); err == nil {
				st = fileStamp{size: fi.Size(), mod: fi.ModTime()}
			}
			out = append(out, st)
		}
	}
	return out
}
