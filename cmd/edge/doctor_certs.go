package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/edge-server/edge/internal/config"
	edgetls "github.com/edge-server/edge/tls"
)

// certRenewWarn is the days-left under which a certificate that has not been renewed is
// a problem: certmagic renews at about 30 days left, so under 14 means renewal failed.
const certRenewWarn = 14

// checkCertificates looks for each host's certificate in state_dir/certs, where
// certmagic stores certificates/<issuer>/<host>/<host>.crt, and reports days left.
func (d *doctor) checkCertificates() {
	if d.cfg.Proxy.HTTPSAddr == "" {
		d.pass("certificates: listen.https is empty (plain HTTP), none needed")
		return
	}
	dir := filepath.Join(d.cfg.StateDir, "certs")
	found, err := findCertFiles(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.fail(fmt.Sprintf("certificates: cannot read %s: %v", dir, unwrapPathError(err)),
			"run doctor as root (sudo edge doctor); the directory belongs to user edge")
		return
	}
	seen := map[string]bool{}
	for _, oc := range d.cfg.OwnCerts {
		d.checkOwnCert(oc)
		for _, h := range oc.Hosts {
			seen[h] = true
		}
	}
	for _, s := range d.cfg.Proxy.Sites {
		for _, h := range s.Hosts {
			if !seen[h] {
				seen[h] = true
				d.checkCert(h, found[certFileName(h)])
			}
		}
	}
}

// checkOwnCert checks a site's own certificate files (tls: {cert, key}): edge serves
// them as they are and never renews them, so expiry is the operator's to watch.
func (d *doctor) checkOwnCert(oc config.OwnCert) {
	hosts := strings.Join(oc.Hosts, ", ")
	certs, err := readOwnCerts([]config.OwnCert{oc})
	if err != nil {
		d.fail(fmt.Sprintf("own certificate for %s: %v", hosts, err), "fix the path in sites[].tls or the file permissions (edge runs as user edge)")
		return
	}
	c, err := edgetls.ParseOwnCertificate(certs[0], d.now())
	if err != nil {
		d.fail(fmt.Sprintf("own certificate for %s: %v", hosts, err), "install a valid certificate and key at those paths; edge re-reads them within 10 s")
		return
	}
	leaf := c.Leaf
	days := int(leaf.NotAfter.Sub(d.now()).Hours() / 24)
	until := leaf.NotAfter.UTC().Format("2006-01-02")
	if days < certRenewWarn {
		d.fail(fmt.Sprintf("own certificate %s for %s expires in %d day(s) (%s)", oc.Cert, hosts, days, until),
			"renew it with whatever issued it; edge does not renew certificates it did not obtain, and re-reads the file within 10 s")
		return
	}
	d.pass(fmt.Sprintf("own certificate %s for %s valid until %s (%d days left), issued by %s", oc.Cert, hosts, until, days, leaf.Issuer.CommonName))
}

// certFileName is certmagic's file name for a host (wildcards become "wildcard_").
func certFileName(host string) string {
	return strings.Replace(strings.ToLower(host), "*", "wildcard_", 1) + ".crt"
}

// findCertFiles maps file name → paths of every *.crt under dir (a few levels deep).
func findCertFiles(dir string) (map[string][]string, error) {
	out := map[string][]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && strings.Count(strings.TrimPrefix(p, dir), string(filepath.Separator)) > 4 {
			return filepath.SkipDir
		}
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".crt") {
			out[e.Name()] = append(out[e.Name()], p)
		}
		return nil
	})
	return out, err
}

func (d *doctor) checkCert(host string, paths []string) {
	if len(paths) == 0 {
		if d.running {
			d.fail(fmt.Sprintf("certificate %s: none yet although edge runs", host),
				"Let's Encrypt must reach http://"+host+"/.well-known/acme-challenge/ on port 80: check DNS, the firewall/security group, then journalctl -u edge | grep -i acme")
		} else {
			d.note(fmt.Sprintf("certificate %s: none yet; edge obtains it on start (needs DNS pointing here and port 80 open)", host))
		}
		return
	}
	var best *x509.Certificate
	var bestPath string
	var problems []string
	for _, p := range paths {
		c, err := leafCert(p)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		if best == nil || c.NotAfter.After(best.NotAfter) {
			best, bestPath = c, p
		}
	}
	if best == nil {
		d.fail(fmt.Sprintf("certificate %s is unreadable: %s", host, strings.Join(problems, "; ")),
			"delete the broken file; edge obtains a new certificate: sudo systemctl restart edge")
		return
	}
	days := int(best.NotAfter.Sub(d.now()).Hours() / 24)
	until := best.NotAfter.UTC().Format("2006-01-02")
	issuer := best.Issuer.CommonName
	switch {
	case best.VerifyHostname(strings.Replace(host, "*", "edge-doctor-probe", 1)) != nil:
		d.fail(fmt.Sprintf("certificate %s (%s) does not cover %s", host, bestPath, host),
			"delete it; edge obtains a matching one: sudo systemctl restart edge")
	case !d.now().Before(best.NotAfter):
		d.fail(fmt.Sprintf("certificate %s expired on %s", host, until),
			"renewal is failing: journalctl -u edge | grep -i acme; check DNS and that port 80 is reachable from the internet")
	case days < certRenewWarn:
		d.fail(fmt.Sprintf("certificate %s expires in %d day(s) (%s) and was not renewed", host, days, until),
			"renewal is failing: journalctl -u edge | grep -i acme; check DNS and that port 80 is reachable from the internet")
	default:
		d.pass(fmt.Sprintf("certificate %s valid until %s (%d days left), issued by %s", host, until, days, issuer))
	}
	if strings.Contains(strings.ToLower(bestPath), "staging") || strings.Contains(strings.ToLower(issuer), "staging") {
		d.note(fmt.Sprintf("certificate %s comes from a staging CA; browsers do not trust it (set tls.ca: letsencrypt)", host))
	}
}

// leafCert parses the first certificate of a PEM file.
func leafCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate in it")
	}
	return x509.ParseCertificate(block.Bytes)
}
