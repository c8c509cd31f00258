package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/edge-server/edge/internal/contentcoding"
)

// siteApp is the app behind the site-features tests: a page worth compressing, an
// event stream held open until release is closed, and headers a site may remove.
type siteApp struct {
	addr    string
	release chan struct{}
}

var sitePage = "<!doctype html><html><body><h1>edge site page</h1>" + strings.Repeat("<p>edge compresses this paragraph of an app page.</p>", 160) + "</body></html>"

func startSiteApp(t *testing.T) *siteApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &siteApp{addr: ln.Addr().String(), release: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/events", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-a.release:
		case <-time.After(20 * time.Second):
		}
		fmt.Fprint(w, "data: last\n\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "gunicorn")
		w.Header().Set("X-Powered-By", "Next.js")
		w.Header().Set("ETag", `"p1"`)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, sitePage)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { close(a.release); _ = srv.Close() })
	return a
}

// edgeCLI runs the edge binary (the test binary as edge) with args and returns its
// exit code and combined output.
func edgeCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(edgeBinary(t), args...)
	cmd.Env = append(os.Environ(), testChildEnv+"=edge")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("running edge %v: %v", args, err)
	}
	return 0, string(out)
}

// sourceClient sends requests to addr from a given loopback source address.
func sourceClient(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{DialContext: d.DialContext, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func siteConfigBody(app *siteApp, static, hash string) string {
	return fmt.Sprintf(`trusted_proxies: [127.0.0.3]
apps:
  web: { blue: %q, green: "127.0.0.1:1", health: { interval: 200ms, timeout: 200ms } }
sites:
  - hosts: [example.test]
    headers: { set: { X-Frame-Options: DENY }, add: { X-Site: one }, remove: [Server, X-Powered-By] }
    routes:
      - { path: /, app: web }
      - { path: /static/, static: %s }
      - { path: /api/, app: web, rate_limit: 1/s, rate_burst: 3, headers: { set: { Cache-Control: no-store } } }
      - { path: /admin/, app: web, allow: [127.0.0.2, 203.0.113.0/24], deny: [203.0.113.66] }
      - { path: /private/, app: web, basic_auth: { alice: "%s" } }
      - { path: /old/, redirect: { to: /new/, code: 301 } }
      - { path: /raw/, app: web, compress: false }
  - hosts: [www.example.test]
    redirect: http://example.test
`, app.addr, static, hash)
}

// TestSiteFeaturesThroughEdge runs `edge run` with every site feature configured and
// checks each from outside, including the requests each feature must refuse.
func TestSiteFeaturesThroughEdge(t *testing.T) {
	app := startSiteApp(t)
	dir := t.TempDir()
	static := filepath.Join(dir, "www")
	if err := os.MkdirAll(static, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(static, "index.html"), []byte(sitePage), 0o644); err != nil {
		t.Fatal(err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	addr := freeAddr(t)
	conf := writeEdgeConfig(t, dir, addr, siteConfigBody(app, static, string(hash)))
	p := startEdge(t, conf, nil, "")
	p.waitReady(t)

	direct, other, lb := sourceClient("127.0.0.1"), sourceClient("127.0.0.2"), sourceClient("127.0.0.3")
	type check struct {
		name     string
		c        *http.Client
		host     string
		path     string
		hdr      map[string]string
		status   int
		header   map[string]string // "" value: must be absent
		encoding string            // expected Content-Encoding ("" none)
		body     string            // substring of the decoded body
	}
	basicHdr := func(u, pw string) map[string]string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(u, pw)
		return map[string]string{"Authorization": r.Header.Get("Authorization")}
	}
	checks := []check{
		{name: "proxied, gzip", c: direct, host: "example.test", path: "/page", hdr: map[string]string{"Accept-Encoding": "gzip"},
			status: 200, encoding: "gzip", body: "edge site page",
			header: map[string]string{"Vary": "Accept-Encoding", "Etag": `W/"p1"`, "X-Frame-Options": "DENY", "X-Site": "one", "Server": "", "X-Powered-By": ""}},
		{name: "proxied, br", c: direct, host: "example.test", path: "/page", hdr: map[string]string{"Accept-Encoding": "br"}, status: 200, encoding: "br", body: "edge site page"},
		{name: "proxied, zstd by q-value", c: direct, host: "example.test", path: "/page", hdr: map[string]string{"Accept-Encoding": "gzip;q=0.5, zstd"}, status: 200, encoding: "zstd", body: "edge site page"},
		{name: "proxied, no Accept-Encoding", c: direct, host: "example.test", path: "/page", status: 200, body: "edge site page", header: map[string]string{"Etag": `"p1"`}},
		{name: "compress: false", c: direct, host: "example.test", path: "/raw/page", hdr: map[string]string{"Accept-Encoding": "gzip"}, status: 200, body: "edge site page", header: map[string]string{"Vary": ""}},
		{name: "static, compressed too", c: direct, host: "example.test", path: "/static/index.html", hdr: map[string]string{"Accept-Encoding": "gzip"}, status: 200, encoding: "gzip", body: "edge site page", header: map[string]string{"X-Frame-Options": "DENY"}},
		{name: "edge's own 404 gets the headers", c: direct, host: "example.test", path: "/static/missing.html", status: 404, header: map[string]string{"X-Frame-Options": "DENY", "Server": ""}},
		{name: "route header overrides", c: direct, host: "example.test", path: "/api/x", status: 200, header: map[string]string{"Cache-Control": "no-store", "X-Frame-Options": "DENY"}},
		{name: "site redirect keeps path and query", c: direct, host: "www.example.test", path: "/a/b?x=1", status: 308, header: map[string]string{"Location": "http://example.test/a/b?x=1"}},
		{name: "route redirect", c: direct, host: "example.test", path: "/old/p?q=2", status: 301, header: map[string]string{"Location": "/new/p?q=2"}},
		{name: "route redirect: no escape to another host", c: direct, host: "example.test", path: "/old//evil.example/x", status: 301, header: map[string]string{"Location": "/new/evil.example/x"}},
		{name: "allow: outside", c: direct, host: "example.test", path: "/admin/", status: 403},
		{name: "allow: inside", c: other, host: "example.test", path: "/admin/", status: 200},
		{name: "XFF from an untrusted peer ignored", c: direct, host: "example.test", path: "/admin/", hdr: map[string]string{"X-Forwarded-For": "203.0.113.7"}, status: 403},
		{name: "XFF from the trusted proxy", c: lb, host: "example.test", path: "/admin/", hdr: map[string]string{"X-Forwarded-For": "203.0.113.7"}, status: 200},
		{name: "spoofed left XFF entry ignored", c: lb, host: "example.test", path: "/admin/", hdr: map[string]string{"X-Forwarded-For": "203.0.113.7, 198.51.100.1"}, status: 403},
		{name: "deny wins", c: lb, host: "example.test", path: "/admin/", hdr: map[string]string{"X-Forwarded-For": "203.0.113.66"}, status: 403},
		{name: "garbage XFF fails closed", c: lb, host: "example.test", path: "/admin/", hdr: map[string]string{"X-Forwarded-For": "203.0.113.7, <script>"}, status: 403},
		{name: "basic auth missing", c: direct, host: "example.test", path: "/private/", status: 401, header: map[string]string{"Www-Authenticate": `Basic realm="edge", charset="UTF-8"`}},
		{name: "basic auth wrong", c: direct, host: "example.test", path: "/private/", hdr: basicHdr("alice", "nope"), status: 401},
		{name: "basic auth unknown user", c: direct, host: "example.test", path: "/private/", hdr: basicHdr("mallory", "s3cret"), status: 401},
		{name: "basic auth right", c: direct, host: "example.test", path: "/private/", hdr: basicHdr("alice", "s3cret"), status: 200},
	}
	for _, tc := range checks {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+addr+tc.path, nil)
			req.Host = tc.host
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := tc.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			for k, want := range tc.header {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			enc := resp.Header.Get("Content-Encoding")
			if enc != tc.encoding {
				t.Fatalf("Content-Encoding %q, want %q", enc, tc.encoding)
			}
			r, err := contentcoding.NewReader(enc, resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("decoding %s: %v", enc, err)
			}
			if !strings.Contains(string(body), tc.body) {
				t.Fatalf("body %.80q does not contain %q", body, tc.body)
			}
		})
	}

	t.Run("rate limit: burst, then 429 with Retry-After", func(t *testing.T) {
		c := sourceClient("127.0.0.4")
		for i := range 3 {
			if code, _, err := get(c, addr, "example.test", "/api/r"); err != nil || code != 200 {
				t.Fatalf("request %d of the burst: %d %v", i, code, err)
			}
		}
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/r", nil)
		req.Host = "example.test"
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
			t.Fatalf("over the burst: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if code, _, _ := get(sourceClient("127.0.0.5"), addr, "example.test", "/api/r"); code != 200 {
			t.Fatalf("another client was limited too: %d", code)
		}
	})

	t.Run("SSE on a compressed route: first event before the upstream ends", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/events", nil)
		req.Host = "example.test"
		req.Header.Set("Accept-Encoding", "gzip, br, zstd")
		resp, err := direct.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if enc := resp.Header.Get("Content-Encoding"); enc != "" {
			t.Fatalf("an event stream was encoded with %q", enc)
		}
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || line != "data: first\n" {
			t.Fatalf("first event: %q, %v", line, err)
		}
	})
}

// TestSiteConfigBadInputThroughEdge: each bad value is one file:line sentence from
// `edge validate`, and `edge reload` with it keeps the running config.
func TestSiteConfigBadInputThroughEdge(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	goodCert, goodKey := writeCertPair(t, dir, "good", 1, now.Add(-time.Hour), now.Add(30*24*time.Hour), "own.example.test")
	_, otherKey := writeCertPair(t, dir, "other", 2, now.Add(-time.Hour), now.Add(30*24*time.Hour), "own.example.test")
	oldCert, oldKey := writeCertPair(t, dir, "old", 3, now.Add(-48*time.Hour), now.Add(-24*time.Hour), "own.example.test")
	head := "apps:\n  web: { blue: \"127.0.0.1:3000\", green: \"127.0.0.1:4000\" }\nsites:\n  - hosts: [example.test]\n"
	tests := []struct {
		name, body string
		line       int
		want       string
	}{
		{"invalid CIDR", head + "    routes:\n      - { path: /, app: web, allow: [10.0.0.0/33] }\n", 6, `"10.0.0.0/33" is not an IP address or CIDR prefix`},
		{"invalid trusted proxy", "trusted_proxies: [10.0.0.0/8, lb.internal]\n" + head + "    routes: [{ path: /, app: web }]\n", 1, `"lb.internal" is not an IP address or CIDR prefix`},
		{"malformed bcrypt hash", head + "    routes:\n      - path: /\n        app: web\n        basic_auth: { alice: \"$2a$10$short\" }\n", 8, `the basic_auth hash of user "alice" is not a bcrypt hash`},
		{"site redirecting to itself", head + "  - hosts: [www.example.test]\n    redirect: https://www.example.test/\n", 6, "points back at this site's own host"},
		{"route redirecting into itself", head + "    routes:\n      - { path: /old/, redirect: { to: /old/new/ } }\n", 6, "stays inside the route"},
		{"bad redirect code", head + "    routes:\n      - { path: /old/, redirect: { to: /new/, code: 200 } }\n", 6, "must be 301, 302, 303, 307 or 308"},
		{"header name with invalid characters", head + "    headers: { set: { \"X Frame\": DENY } }\n    routes: [{ path: /, app: web }]\n", 5, `header name "X Frame" contains ' '`},
		{"header value with a line break", head + "    headers: { set: { X-A: \"a\\r\\nSet-Cookie: x=1\" } }\n    routes: [{ path: /, app: web }]\n", 5, "control character"},
		{"bad rate", head + "    routes:\n      - { path: /, app: web, rate_limit: fast }\n", 6, "must be a rate such as 20/s"},
		{"cert and key that do not match", head + fmt.Sprintf("    tls: { cert: %s, key: %s }\n    routes: [{ path: /, app: web }]\n", goodCert, otherKey), 5, "the key does not belong to the certificate"},
		{"expired certificate", head + fmt.Sprintf("    tls: { cert: %s, key: %s }\n    routes: [{ path: /, app: web }]\n", oldCert, oldKey), 5, "expired on"},
		{"certificate for another host", strings.Replace(head, "example.test]", "elsewhere.test]", 1) + fmt.Sprintf("    tls: { cert: %s, key: %s }\n    routes: [{ path: /, app: web }]\n", goodCert, goodKey), 5, `does not cover host "elsewhere.test"`},
		{"missing certificate file", head + fmt.Sprintf("    tls: { cert: %s/nope.pem, key: %s }\n    routes: [{ path: /, app: web }]\n", dir, goodKey), 5, "cannot be read"},
		{"bad CA in the list", "tls: { ca: [letsencrypt, \"ftp://ca.example\"] }\n" + head + "    routes: [{ path: /, app: web }]\n", 1, "tls.ca must be"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conf := filepath.Join(t.TempDir(), "edge.yaml")
			body := fmt.Sprintf("state_dir: %s\nadmin_socket: %s/a.sock\nmetrics: \"\"\nlisten: { http: \"127.0.0.1:0\", https: \"\" }\n", dir, dir)
			if err := os.WriteFile(conf, []byte(body+tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out := edgeCLI(t, "validate", "--config", conf)
			want := fmt.Sprintf("%s:%d: ", conf, tc.line+4)
			if code == 0 || !strings.Contains(out, want) || !strings.Contains(out, tc.want) {
				t.Fatalf("edge validate exited %d:\n%s\nwant a line starting %q containing %q", code, out, want, tc.want)
			}
		})
	}

	t.Run("reload with a bad file keeps the running config", func(t *testing.T) {
		app := startSiteApp(t)
		addr := freeAddr(t)
		sdir := shortSocketDir(t)
		good := fmt.Sprintf("apps:\n  web: { blue: %q, green: \"127.0.0.1:1\" }\nsites:\n  - hosts: [example.test]\n    headers: { set: { X-Version: one } }\n    routes: [{ path: /, app: web }]\n", app.addr)
		conf := writeEdgeConfig(t, sdir, addr, good)
		p := startEdge(t, conf, nil, "")
		p.waitReady(t)
		bad := strings.Replace(good, "X-Version: one", "\"X Version\": two", 1)
		writeEdgeConfig(t, sdir, addr, bad)
		code, out := edgeCLI(t, "reload", "--config", conf)
		if code == 0 || !strings.Contains(out, `header name "X Version"`) {
			t.Fatalf("edge reload exited %d: %s", code, out)
		}
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Host = "example.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Version") != "one" {
			t.Fatalf("after a refused reload: %d, X-Version %q", resp.StatusCode, resp.Header.Get("X-Version"))
		}
	})
}

// writeCertPair writes a self-signed certificate and its key as name.pem / name.key.
func writeCertPair(t *testing.T, dir, name string, serial int64, from, until time.Time, hosts ...string) (certPath, keyPath string) {
	t.Helper()
	certPEM, keyPEM := selfSignedPEM(t, serial, from, until, hosts...)
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// selfSignedPEM makes a certificate for hosts valid from..until, and its key, in PEM.
func selfSignedPEM(t *testing.T, serial int64, from, until time.Time, hosts ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: hosts[0]}, DNSNames: hosts,
		NotBefore: from, NotAfter: until, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// TestOwnCertificateThroughEdge: a site with tls: {cert, key} is served that
// certificate over HTTPS without any CA, status reports its file and expiry, a
// replaced file is picked up while edge runs, and a broken replacement is not.
func TestOwnCertificateThroughEdge(t *testing.T) {
	app := startSiteApp(t)
	dir := shortSocketDir(t)
	now := time.Now()
	const host = "own.example.test"
	certPath, keyPath := writeCertPair(t, dir, "own", 11, now.Add(-time.Hour), now.Add(45*24*time.Hour), host)
	httpAddr, httpsAddr := freeAddr(t), freeAddr(t)
	conf := filepath.Join(dir, "edge.yaml")
	yaml := fmt.Sprintf(`state_dir: %s/state
admin_socket: %s/admin.sock
metrics: ""
listen: { http: %q, https: %q }
tls: { ca: "http://127.0.0.1:1/no-acme-needed" }
apps:
  web: { blue: %q, green: "127.0.0.1:1" }
sites:
  - hosts: [%s]
    tls: { cert: %s, key: %s }
    routes: [{ path: /, app: web }]
`, dir, dir, httpAddr, httpsAddr, app.addr, host, certPath, keyPath)
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startEdge(t, conf, nil, "")
	p.waitReady(t)

	served := func() (int64, error) {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", httpsAddr,
			&tls.Config{ServerName: host, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), nil
	}
	if s, err := served(); err != nil || s != 11 {
		t.Fatalf("served serial %d (%v), want 11", s, err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: host, InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "https://"+httpsAddr+"/page", nil)
	req.Host = host
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("HTTPS through the own certificate: %d", resp.StatusCode)
	}

	code, out := edgeCLI(t, "status", "--json", "--config", conf)
	if code != 0 || !strings.Contains(out, `"name": "`+host+`"`) || !strings.Contains(out, `"source": "file `+certPath+`"`) || !strings.Contains(out, `"days_left": 44`) {
		t.Fatalf("edge status --json (%d): %s", code, out)
	}
	code, out = edgeCLI(t, "status", "--config", conf)
	if code != 0 || !strings.Contains(out, "file "+certPath) {
		t.Fatalf("edge status (%d): %s", code, out)
	}

	// A renewal by another tool: new files, picked up by the file check.
	writeCertPair(t, dir, "own", 12, now.Add(-time.Hour), now.Add(90*24*time.Hour), host)
	eventuallyWithin(t, 25*time.Second, "the replaced certificate to be served", func() bool { s, _ := served(); return s == 12 })
	// A broken replacement (the key of another pair) is refused; 12 keeps serving.
	_, otherKey := writeCertPair(t, dir, "other", 13, now.Add(-time.Hour), now.Add(90*24*time.Hour), host)
	otherKeyPEM, _ := os.ReadFile(otherKey)
	writeCertPair(t, dir, "own", 14, now.Add(-time.Hour), now.Add(90*24*time.Hour), host)
	if err := os.WriteFile(keyPath, otherKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 25*time.Second, "the broken pair to be reported", func() bool {
		return strings.Contains(p.logs.String(), "cannot be served; the previous certificate stays")
	})
	if s, err := served(); err != nil || s != 12 {
		t.Fatalf("after a broken replacement, served serial %d (%v), want 12", s, err)
	}
}

func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRateLimitAddressFloodThroughEdge sends requests from 100k distinct client
// addresses (X-Forwarded-For from a trusted proxy) to a rate-limited route of a real
// `edge run` and checks its resident memory stays bounded.
func TestRateLimitAddressFloodThroughEdge(t *testing.T) {
	if testing.Short() {
		t.Skip("100k requests; run without -short")
	}
	app := startSiteApp(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	conf := writeEdgeConfig(t, dir, addr, fmt.Sprintf(`access_log: false
trusted_proxies: [127.0.0.1]
apps:
  web: { blue: %q, green: "127.0.0.1:1" }
sites:
  - hosts: [example.test]
    routes: [{ path: /, app: web, rate_limit: 5/s, rate_burst: 10, compress: false }]
`, app.addr))
	p := startEdge(t, conf, nil, "")
	p.waitReady(t)
	pid := p.cmd.Process.Pid
	flood := func(from, to int) {
		t.Helper()
		const workers = 4
		errs := make(chan error, workers)
		for w := range workers {
			go func() {
				c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
				for i := from + w; i < to; i += workers {
					req, _ := http.NewRequest("GET", "http://"+addr+"/health", nil)
					req.Host = "example.test"
					req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
					resp, err := c.Do(req)
					if err != nil {
						errs <- err
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						errs <- fmt.Errorf("client %d: status %d", i, resp.StatusCode)
						return
					}
				}
				errs <- nil
			}()
		}
		for range workers {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	flood(0, 2000) // warm up pools and buffers
	n := 100_000
	if raceEnabled {
		n = 20_000 // the race detector makes this 8x slower and its shadow memory hides the figure
	}
	before := rssKiB(t, pid)
	start := time.Now()
	flood(2000, 2000+n)
	mid := rssKiB(t, pid)
	flood(2000+n, 2000+2*n) // as many new addresses again: a bounded limiter does not grow
	after := rssKiB(t, pid)
	t.Logf("%d distinct client addresses in %s: edge RSS %d KiB before, %d KiB after (+%d KiB); %d more: %d KiB (+%d KiB)",
		n, time.Since(start).Round(time.Millisecond), before, mid, mid-before, n, after, after-mid)
	if raceEnabled {
		return
	}
	if mid-before > 32<<10 || after-mid > 8<<10 {
		t.Fatalf("RSS grew by %d KiB for the first 100k client addresses and %d KiB for the next; the limiter should stay near 10 MiB", mid-before, after-mid)
	}
}

func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb int
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%d", &kb)
			return kb
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func TestHashPasswordThroughEdge(t *testing.T) {
	cmd := exec.Command(edgeBinary(t), "hash-password")
	cmd.Env = append(os.Environ(), testChildEnv+"=edge")
	cmd.Stdin = strings.NewReader("correct horse\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(string(out))
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse")); err != nil {
		t.Fatalf("edge hash-password printed %q: %v", hash, err)
	}
	// The printed hash is accepted by edge validate as a basic_auth value.
	dir := t.TempDir()
	conf := writeEdgeConfig(t, dir, "127.0.0.1:0", fmt.Sprintf("apps:\n  web: { blue: \"127.0.0.1:3000\", green: \"127.0.0.1:4000\" }\nsites:\n  - hosts: [example.test]\n    routes: [{ path: /, app: web, basic_auth: { alice: %q } }]\n", hash))
	if code, out := edgeCLI(t, "validate", "--config", conf); code != 0 {
		t.Fatalf("edge validate refused the printed hash: %s", out)
	}
	cmd = exec.Command(edgeBinary(t), "hash-password")
	cmd.Env = append(os.Environ(), testChildEnv+"=edge")
	cmd.Stdin = strings.NewReader("")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "no password on stdin") {
		t.Fatalf("empty stdin: %v %s", err, out)
	}
}
