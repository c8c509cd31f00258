package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edge-server/edge/proxy"
	edgetls "github.com/edge-server/edge/tls"
)

// OwnCert is a site's `tls: {cert, key}`: PEM files served for the site's hosts instead
// of a certificate obtained over ACME. cmd/edge reads the files and watches them.
type OwnCert struct {
	Hosts     []string
	Cert, Key string
	At        Pos // the site's tls key
}

// headers decodes {set: {Name: value}, add: {…}, remove: [Name]}; every name and value is
// checked where it is written.
func (d *decoder) headers(n *yaml.Node, where string) proxy.HeaderRules {
	var h proxy.HeaderRules
	pairs := func(v *yaml.Node, p string) map[string]string {
		if isNull(v) {
			return nil
		}
		if v.Kind != yaml.MappingNode {
			d.errorf(v, "%s must be a mapping of header names to values, not %s", p, describe(v))
			return nil
		}
		m := map[string]string{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, val := v.Content[i], v.Content[i+1]
			if err := proxy.CheckHeaderName(k.Value); err != nil {
				d.errorf(k, "%s: %v", p, err)
				continue
			}
			s := d.str(val, p+"."+k.Value, nil)
			if err := proxy.CheckHeaderValue(k.Value, s); err != nil {
				d.errorf(val, "%s: %v", p, err)
				continue
			}
			m[k.Value] = s
		}
		return m
	}
	d.mapping(n, where, map[string]field{
		"set": func(v *yaml.Node, p string) { h.Set = pairs(v, p) },
		"add": func(v *yaml.Node, p string) { h.Add = pairs(v, p) },
		"remove": func(v *yaml.Node, p string) {
			names := d.strList(v, p, nil, nil)
			for i, name := range names {
				if err := proxy.CheckHeaderName(name); err != nil {
					d.errorf(itemNode(v, i), "%s: %v", p, err)
					continue
				}
				h.Remove = append(h.Remove, name)
			}
		},
	})
	return h
}

// itemNode is the i-th item of a list node, or the node itself for a single value.
func itemNode(n *yaml.Node, i int) *yaml.Node {
	if n.Kind == yaml.SequenceNode && i < len(n.Content) {
		return n.Content[i]
	}
	return n
}

// prefixes decodes a list of addresses and CIDR prefixes ("10.0.0.0/8", "192.0.2.7").
func (d *decoder) prefixes(n *yaml.Node, where string) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range d.strList(n, where, nil, nil) {
		p, err := parsePrefix(s)
		if err != nil {
			d.errorf(itemNode(n, i), "%s: %q is not an IP address or CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32", where, s)
			continue
		}
		out = append(out, p)
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// basicAuth decodes {user: bcrypt-hash}; a hash that is not bcrypt is reported at its line.
func (d *decoder) basicAuth(n *yaml.Node, where string) map[string]string {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping of user names to bcrypt hashes, not %s", where, describe(n))
		return nil
	}
	users := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		hash := d.str(v, where+"."+k.Value, nil)
		if err := proxy.CheckBcryptHash(k.Value, hash); err != nil {
			d.errorf(v, "%s: %v", where, err)
			continue
		}
		users[k.Value] = hash
	}
	return users
}

// rate decodes "20/s", "600/m", "3600/h" or a bare number (per second).
func (d *decoder) rate(n *yaml.Node, where string) float64 {
	s := strings.TrimSpace(d.str(n, where, nil))
	num, unit, _ := strings.Cut(s, "/")
	per := time.Second
	switch strings.TrimSpace(unit) {
	case "", "s":
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	default:
		per = 0
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || v <= 0 || per == 0 || v > 1e6 {
		d.errorf(n, "%s must be a rate such as 20/s, 600/m or 3600/h, not %q", where, s)
		return 0
	}
	return v / per.Seconds()
}

// redirectCode decodes a redirect status and checks it is one browsers follow.
func (d *decoder) redirectCode(n *yaml.Node, where string) int {
	s := d.str(n, where, nil)
	c, err := strconv.Atoi(s)
	if err == nil {
		err = proxy.CheckRedirectCode(c)
	}
	if err != nil || c == 0 {
		d.errorf(n, "%s must be 301, 302, 303, 307 or 308, not %q", where, s)
		return 0
	}
	return c
}

// routeRedirect decodes {to, code}; whether it loops is checked once the route's path
// is known (checkRouteRedirect).
func (d *decoder) routeRedirect(n *yaml.Node, where string) *proxy.RedirectConfig {
	r := &proxy.RedirectConfig{}
	d.mapping(n, where, map[string]field{
		"to":   func(v *yaml.Node, p string) { r.To = d.str(v, p, nil) },
		"code": func(v *yaml.Node, p string) { r.Code = d.redirectCode(v, p) },
	})
	return r
}

// ownCert decodes a site's tls: {cert, key}.
func (d *decoder) ownCert(n *yaml.Node, where string) *OwnCert {
	oc := &OwnCert{}
	record(n, &oc.At)
	d.mapping(n, where, map[string]field{
		"cert": func(v *yaml.Node, p string) { oc.Cert = d.str(v, p, nil) },
		"key":  func(v *yaml.Node, p string) { oc.Key = d.str(v, p, nil) },
	})
	if oc.Cert == "" || oc.Key == "" {
		d.errorf(n, "%s needs both cert and key (PEM files)", where)
		return nil
	}
	return oc
}

// ownCerts checks each site's certificate files: readable, the key matches, valid now,
// covering the site's hosts. The files are read again by cmd/edge when it serves them.
func (v *validator) ownCerts(fs FS, now time.Time) {
	for _, oc := range v.cfg.OwnCerts {
		cert, err := fs.ReadFile(oc.Cert)
		if err != nil {
			v.errorf(oc.At, "tls.cert %q cannot be read: %v", oc.Cert, err)
			continue
		}
		key, err := fs.ReadFile(oc.Key)
		if err != nil {
			v.errorf(oc.At, "tls.key %q cannot be read: %v", oc.Key, err)
			continue
		}
		if _, err := edgetls.ParseOwnCertificate(edgetls.OwnCertificate{Hosts: oc.Hosts, CertPEM: cert, KeyPEM: key, Source: oc.Cert}, now); err != nil {
			v.errorf(oc.At, "%v", err)
		}
	}
}

// siteRedirect checks a whole-site redirect once the site's hosts are known: an
// absolute URL, not back to the site itself.
func (d *decoder) siteRedirect(site *proxy.SiteConfig, at Pos, where string) {
	if site.Redirect == "" || at.Bad {
		return
	}
	if err := proxy.CheckSiteRedirect(site.Hosts, site.Redirect); err != nil {
		d.errs = append(d.errs, Error{File: d.file, Line: at.Line, Msg: fmt.Sprintf("%s.redirect: %v", where, err)})
	}
}
