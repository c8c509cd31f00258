package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/edge-server/edge/internal/config"
	"github.com/edge-server/edge/proxy"
)

// TestDoctorOwnCertificates: edge doctor checks a site's own certificate files: valid,
// about to expire (edge does not renew them), expired, mismatched, unreadable.
func TestDoctorOwnCertificates(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	const host = "own.example.test"
	goodC, goodK := writeCertPair(t, dir, "good", 1, now.Add(-time.Hour), now.Add(60*24*time.Hour), host)
	soonC, soonK := writeCertPair(t, dir, "soon", 2, now.Add(-time.Hour), now.Add(5*24*time.Hour), host)
	oldC, oldK := writeCertPair(t, dir, "old", 3, now.Add(-48*time.Hour), now.Add(-24*time.Hour), host)
	_, otherK := writeCertPair(t, dir, "other", 4, now.Add(-time.Hour), now.Add(60*24*time.Hour), host)
	tests := []struct {
		name, cert, key, want string
	}{
		{"valid", goodC, goodK, "✔ own certificate " + goodC + " for " + host + " valid until"},
		{"expiring", soonC, soonK, "✘ own certificate " + soonC + " for " + host + " expires in 4 day(s)"},
		{"expired", oldC, oldK, "✘ own certificate for " + host + ": certificate " + oldC + " expired on"},
		{"mismatched", goodC, otherK, "the key does not belong to the certificate"},
		{"unreadable", dir + "/none.pem", goodK, "✘ own certificate for " + host + ": reading certificate: no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			cfg := config.Default("x.yaml")
			cfg.StateDir = dir
			cfg.Proxy.Sites = []proxy.SiteConfig{{Hosts: []string{host}}}
			cfg.OwnCerts = []config.OwnCert{{Hosts: []string{host}, Cert: tc.cert, Key: tc.key}}
			d := &doctor{cfg: cfg, out: &out, now: time.Now, running: true}
			d.checkCertificates()
			if !strings.Contains(out.String(), tc.want) || strings.Contains(out.String(), "none yet") {
				t.Fatalf("got\n%s\nwant %q (and no ACME check for the host)", out.String(), tc.want)
			}
		})
	}
}
