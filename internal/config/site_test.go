package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const siteHead = "apps:\n  web: { blue: \"127.0.0.1:3000\", green: \"127.0.0.1:4000\" }\nsites:\n  - hosts: [example.com]\n"

func checkText(t *testing.T, yaml string) (*Config, Errors) {
	t.Helper()
	cfg, err := Check("edge.yaml", []byte(yaml), func(string) (string, bool) { return "", false }, fakeDirs{})
	var errs Errors
	if err != nil && !errors.As(err, &errs) {
		t.Fatalf("Check returned %T: %v", err, err)
	}
	return cfg, errs
}

func testCert(t *testing.T, dir, name string, from, until time.Time, hosts ...string) (string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: hosts[0]}, DNSNames: hosts,
		NotBefore: from, NotAfter: until}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	c, k := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	_ = os.WriteFile(c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(k, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return c, k
}

func TestSiteFeaturesDecode(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cert, key := testCert(t, dir, "own", now.Add(-time.Hour), now.Add(24*time.Hour), "example.com")
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	cfg, errs := checkText(t, fmt.Sprintf(`trusted_proxies: [10.0.0.0/8, 192.0.2.1, "2001:db8::/32"]
tls: { ca: [letsencrypt, "https://acme.other.example/directory"] }
`+siteHead+`    headers: { set: { X-Frame-Options: DENY }, add: { Link: "</a.css>; rel=preload" }, remove: [Server] }
    tls: { cert: %s, key: %s }
    routes:
      - { path: /api/, app: web, rate_limit: 20/s, rate_burst: 40 }
      - { path: /slow/, app: web, rate_limit: 600/m, compress: false }
      - { path: /admin/, app: web, allow: [10.0.0.0/8, 192.0.2.7], deny: [10.9.0.0/16], basic_auth: { alice: "%s" } }
      - { path: /old/, redirect: { to: /new/, code: 301 } }
      - { path: /, static: /srv/www }
  - hosts: [www.example.com]
    redirect: https://example.com
    redirect_code: 302
`, cert, key, hash))
	if len(errs) > 0 {
		t.Fatalf("unexpected errors:\n%v", errs)
	}
	p := cfg.Proxy
	if len(p.TrustedProxies) != 3 || p.TrustedProxies[1] != netip.MustParsePrefix("192.0.2.1/32") {
		t.Errorf("trusted_proxies = %v", p.TrustedProxies)
	}
	if cfg.TLS.CA != "letsencrypt" || len(cfg.TLS.CAs) != 2 {
		t.Errorf("tls.ca = %q, %v", cfg.TLS.CA, cfg.TLS.CAs)
	}
	s := p.Sites[0]
	if s.Headers.Set["X-Frame-Options"] != "DENY" || s.Headers.Remove[0] != "Server" || s.Headers.Add["Link"] == "" {
		t.Errorf("headers = %+v", s.Headers)
	}
	api, slow, admin, old := s.Routes[0], s.Routes[1], s.Routes[2], s.Routes[3]
	if api.Access.RateLimit != 20 || api.Access.RateBurst != 40 || !api.Compress {
		t.Errorf("api = %+v", api)
	}
	if slow.Access.RateLimit != 10 || slow.Compress {
		t.Errorf("slow = %+v", slow)
	}
	if len(admin.Access.Allow) != 2 || admin.Access.Allow[1] != netip.MustParsePrefix("192.0.2.7/32") || len(admin.Access.Deny) != 1 || admin.Access.BasicAuth["alice"] == "" {
		t.Errorf("admin = %+v", admin.Access)
	}
	if old.Redirect == nil || old.Redirect.To != "/new/" || old.Redirect.Code != 301 {
		t.Errorf("old = %+v", old.Redirect)
	}
	if w := p.Sites[1]; w.Redirect != "https://example.com" || w.RedirectCode != 302 {
		t.Errorf("www = %+v", w)
	}
	if len(cfg.OwnCerts) != 1 || cfg.OwnCerts[0].Cert != cert || cfg.OwnCerts[0].Hosts[0] != "example.com" || cfg.OwnCerts[0].At.Line != 8 {
		t.Errorf("own certs = %+v", cfg.OwnCerts)
	}
}

// TestSiteFeaturesBadInput: each bad value is one error at its own line.
func TestSiteFeaturesBadInput(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	good, goodKey := testCert(t, dir, "good", now.Add(-time.Hour), now.Add(24*time.Hour), "example.com")
	_, otherKey := testCert(t, dir, "other", now.Add(-time.Hour), now.Add(24*time.Hour), "example.com")
	old, oldKey := testCert(t, dir, "old", now.Add(-48*time.Hour), now.Add(-24*time.Hour), "example.com")
	route := func(r string) string { return siteHead + "    routes:\n      - " + r + "\n" }
	tests := []struct {
		name, yaml, want string
	}{
		{"invalid CIDR", route("{ path: /, app: web, allow: [10.0.0.0/33] }"), `6: sites[0].routes[0].allow: "10.0.0.0/33" is not an IP address or CIDR prefix`},
		{"invalid deny item, own line", siteHead + "    routes:\n      - path: /\n        app: web\n        deny:\n          - 10.0.0.1\n          - nonsense\n", `10: sites[0].routes[0].deny: "nonsense" is not an IP address`},
		{"invalid trusted proxy", "trusted_proxies: lb\n" + route("{ path: /, app: web }"), `1: trusted_proxies: "lb" is not an IP address`},
		{"malformed bcrypt hash", route(`{ path: /, app: web, basic_auth: { alice: "plaintext" } }`), `6: sites[0].routes[0].basic_auth: the basic_auth hash of user "alice" is not a bcrypt hash`},
		{"user name with a colon", route(`{ path: /, app: web, basic_auth: { "a:b": "$2a$04$0123456789012345678901234567890123456789012345678901u" } }`), `contains ':'`},
		{"site redirecting to itself", siteHead + "    redirect: https://EXAMPLE.com/\n", `5: sites[0].redirect: redirect "https://EXAMPLE.com/" points back at this site's own host "example.com"`},
		{"relative site redirect", siteHead + "    redirect: /elsewhere\n", `5: sites[0].redirect: redirect "/elsewhere" must be an absolute http:// or https:// URL`},
		{"site redirect with routes", siteHead + "    redirect: https://b.example\n    routes: [{ path: /, app: web }]\n", `5: sites[0] redirects every request, so its routes would never be used`},
		{"route redirect loop", route("{ path: /old/, redirect: { to: /old/x/ } }"), `6: sites[0].routes[0]: redirect of route "/old/" to "/old/x/" stays inside the route`},
		{"redirect code", route("{ path: /old/, redirect: { to: /new/, code: 418 } }"), `6: sites[0].routes[0].redirect.code must be 301, 302, 303, 307 or 308, not "418"`},
		{"redirect without to", route("{ path: /old/, redirect: { code: 301 } }"), "6: sites[0].routes[0]: redirect of route \"/old/\" has no `to`"},
		{"redirect and app", route("{ path: /old/, app: web, redirect: { to: /new/ } }"), `6: route "/old/" must have exactly one of app, chat: true, static or redirect`},
		{"header name with a space", siteHead + "    headers: { set: { \"X Frame\": DENY } }\n    routes: [{ path: /, app: web }]\n", `5: sites[0].headers.set: header name "X Frame" contains ' '`},
		{"header name with a colon", route(`{ path: /, app: web, headers: { add: { "X-A:": "1" } } }`), `header name "X-A:" contains ':'`},
		{"removing a framing header", route(`{ path: /, app: web, headers: { remove: [Content-Length] } }`), `header "Content-Length" frames the message`},
		{"header value with CRLF", siteHead + "    headers: { set: { X-A: \"1\\r\\nSet-Cookie: a=b\" } }\n    routes: [{ path: /, app: web }]\n", `5: sites[0].headers.set: the value of header "X-A" contains the control character`},
		{"bad rate", route("{ path: /, app: web, rate_limit: lots }"), `6: sites[0].routes[0].rate_limit must be a rate such as 20/s, 600/m or 3600/h, not "lots"`},
		{"zero rate", route("{ path: /, app: web, rate_limit: 0/s }"), `must be a rate such as`},
		{"burst without rate", route("{ path: /, app: web, rate_burst: 5 }"), `6: sites[0].routes[0] sets rate_burst without rate_limit`},
		{"cert and key that do not match", siteHead + fmt.Sprintf("    tls: { cert: %s, key: %s }\n    routes: [{ path: /, app: web }]\n", good, otherKey), `5: the key does not belong to the certificate ` + good},
		{"expired cert file", siteHead + fmt.Sprintf("    tls: { cert: %s, key: %s }\n    routes: [{ path: /, app: web }]\n", old, oldKey), `5: certificate ` + old + ` expired on`},
		{"unreadable cert file", siteHead + fmt.Sprintf("    tls: { cert: %s/none.pem, key: %s }\n    routes: [{ path: /, app: web }]\n", dir, goodKey), `5: tls.cert "` + dir + `/none.pem" cannot be read`},
		{"tls without key", siteHead + fmt.Sprintf("    tls: { cert: %s }\n    routes: [{ path: /, app: web }]\n", good), `5: sites[0].tls needs both cert and key`},
		{"bad CA in a list", "tls: { ca: [letsencrypt, nonsense] }\n" + route("{ path: /, app: web }"), `1: tls.ca must be letsencrypt, letsencrypt-staging or an ACME directory URL, not "nonsense"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := checkText(t, tc.yaml)
			if len(errs) != 1 {
				t.Fatalf("want exactly one error, got %d:\n%v", len(errs), errs)
			}
			if got := errs[0].Error(); !strings.Contains(got, tc.want) || !strings.HasPrefix(got, "edge.yaml:") || errs[0].Line == 0 {
				t.Fatalf("error %q, want it to contain %q with a line", got, tc.want)
			}
		})
	}
}

// TestSiteFeaturesExampleIsValid keeps the fuzz seed with every site feature valid.
func TestSiteFeaturesExampleIsValid(t *testing.T) {
	if _, errs := loadTestConfig(t, "site_features.yaml", nil); len(errs) > 0 {
		t.Fatal(errs)
	}
}
