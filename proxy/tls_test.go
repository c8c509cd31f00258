package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// selfSigned makes a certificate for a.example and returns the server config and a
// pool that trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "a.example"},
		DNSNames: []string{"a.example"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func TestHTTPSAndRedirect(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	tlsCfg, pool := selfSigned(t)
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Sites = []SiteConfig{{Hosts: []string{"a.example"}, Routes: []RouteConfig{{Path: "/", App: "web"}}}}
	cfg.HTTPSAddr = "127.0.0.1:0"
	cfg.TLSConfig = tlsCfg
	cfg.HSTS = true
	cfg.ACMEChallenge = func(ctx *fasthttp.RequestCtx) bool {
		if !strings.HasPrefix(string(ctx.Path()), "/.well-known/acme-challenge/") {
			return false
		}
		ctx.SetBodyString("token.thumbprint")
		return true
	}
	s := startProxy(t, cfg)
	_, port, _ := net.SplitHostPort(s.HTTPSAddr())

	plain := client(s)
	code, _, h := get(t, plain, "a.example", "/path/x?q=1&r=2")
	if code != 308 || string(h.Peek("Location")) != "https://a.example:"+port+"/path/x?q=1&r=2" {
		t.Fatalf("redirect %d %q", code, h.Peek("Location"))
	}
	if code, body, _ := get(t, plain, "a.example", "/.well-known/acme-challenge/abc"); code != 200 || body != "token.thumbprint" {
		t.Fatalf("challenge %d %q", code, body)
	}
	if code, _, _ := get(t, plain, "unknown.example", "/"); code != 404 {
		t.Fatalf("unknown host on http: %d", code)
	}
	if blue.hits.Load() != 0 {
		t.Fatal("plain HTTP reached the app")
	}

	secure := &fasthttp.HostClient{Addr: s.HTTPSAddr(), IsTLS: true,
		TLSConfig: &tls.Config{RootCAs: pool, ServerName: "a.example", NextProtos: []string{"http/1.1"}}}
	code, body, h := get(t, secure, "a.example", "/secure")
	if code != 200 || body != "blue" || string(h.Peek("Strict-Transport-Security")) != "max-age=31536000" {
		t.Fatalf("https %d %q hsts %q", code, body, h.Peek("Strict-Transport-Security"))
	}
	if p := blue.requests()[0].Headers["X-Forwarded-Proto"]; p != "https" {
		t.Fatalf("X-Forwarded-Proto %q", p)
	}
	code, _, h = get(t, secure, "a.example", "/x", "Host", "other.example")
	if code != 404 || len(h.Peek("Strict-Transport-Security")) == 0 {
		t.Fatalf("404 over https: %d, hsts %q", code, h.Peek("Strict-Transport-Security"))
	}

	conn, err := tls.Dial("tcp", s.HTTPSAddr(), &tls.Config{RootCAs: pool, ServerName: "a.example", NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Fatalf("ALPN %q, want http/1.1", p)
	}
}

// TestHTTPSSiteFeatures: over HTTPS a site's own Strict-Transport-Security rule wins
// over tls.hsts, and on the plain listener a redirecting site sends the client
// straight to its target instead of to https://its-own-name first.
func TestHTTPSSiteFeatures(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	tlsCfg, pool := selfSigned(t)
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Sites = []SiteConfig{
		{Hosts: []string{"a.example"}, Routes: []RouteConfig{{Path: "/", App: "web"}},
			Headers: HeaderRules{Set: map[string]string{"Strict-Transport-Security": "max-age=63072000; includeSubDomains"}}},
		{Hosts: []string{"www.a.example"}, Redirect: "https://a.example"},
	}
	cfg.HTTPSAddr = "127.0.0.1:0"
	cfg.TLSConfig = tlsCfg
	cfg.HSTS = true
	s := startProxy(t, cfg)
	secure := &fasthttp.HostClient{Addr: s.HTTPSAddr(), IsTLS: true,
		TLSConfig: &tls.Config{RootCAs: pool, ServerName: "a.example", NextProtos: []string{"http/1.1"}}}
	if _, _, h := get(t, secure, "a.example", "/"); string(h.Peek("Strict-Transport-Security")) != "max-age=63072000; includeSubDomains" {
		t.Fatalf("HSTS %q: the site's rule should win", h.Peek("Strict-Transport-Security"))
	}
	code, _, h := get(t, client(s), "www.a.example", "/p?q=1")
	if code != 308 || string(h.Peek("Location")) != "https://a.example/p?q=1" {
		t.Fatalf("plain-HTTP www redirect: %d %q", code, h.Peek("Location"))
	}
}
