package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/edge-server/edge/internal/config"
	"github.com/edge-server/edge/internal/wait"
	"github.com/edge-server/edge/tls/pebbletest"
)

// freeAddr returns a loopback address that was free a moment ago, for an edge process
// to bind later. The port comes from below the kernel's ephemeral range (32768+ by
// default): a port 0 pick is in that range, where any outgoing connection of a
// parallel test may take it as its local port before the edge binds it.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 200 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	t.Fatal("no free loopback port in 20000-31999 after 200 tries")
	return ""
}

// runServe runs serve() as `edge run` does and returns a stop function that ends it
// like SIGTERM and returns serve's error.
func runServe(t *testing.T, cfg *config.Config) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, zap.NewNop(), 10*time.Second) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return fmt.Errorf("serve did not return 30s after SIGTERM")
		}
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// TestHTTPSEndToEndWithPebble: edge's real listeners and wiring get a certificate from a
// real ACME server, serve a blue upstream over verified HTTPS with HSTS, redirect plain
// HTTP, refuse names not under sites, and reuse the stored certificate after a restart.
func TestHTTPSEndToEndWithPebble(t *testing.T) {
	p := pebbletest.Start(t, pebbletest.Options{Quiet: true})
	dir := t.TempDir()
	root := filepath.Join(dir, "pebble-root.pem")
	if err := os.WriteFile(root, p.ServerRootPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	www := filepath.Join(dir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		t.Fatal(err)
	}
	httpAddr, httpsAddr := freeAddr(t), freeAddr(t)
	p.Forward(httpAddr, httpsAddr)
	blue := upstreamServer(t, "blue", true)
	conf := filepath.Join(dir, "edge.yaml")
	yaml := fmt.Sprintf(`state_dir: %s/state
admin_socket: %s/admin.sock
metrics: ""
listen: { http: "%s", https: "%s" }
tls: { email: ops@edge.test, ca: "%s", ca_root: %s, hsts: true }
apps:
  web: { blue: "%s", green: "%s", health: { interval: 200ms, timeout: 200ms } }
sites:
  - hosts: [edge.test]
    routes:
      - { path: /api/, app: web }
      - { path: /, static: %s, spa: true }
`, dir, dir, httpAddr, httpsAddr, p.DirectoryURL, root, blue, freeAddr(t), www)
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	stop := runServe(t, cfg)

	serial := waitForCertificate(t, httpsAddr, "edge.test", p)
	resp := httpsGet(t, httpsAddr, "edge.test", p, "/api/x")
	if resp.StatusCode() != 200 || string(resp.Body()) != "blue" {
		t.Fatalf("https /api/x: %d %q", resp.StatusCode(), resp.Body())
	}
	if hsts := string(resp.Header.Peek("Strict-Transport-Security")); !strings.HasPrefix(hsts, "max-age=") {
		t.Errorf("HSTS header = %q", hsts)
	}

	// Plain HTTP redirects, keeping path and query.
	req, r := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://edge.test/a/b?c=d")
	if err := (&fasthttp.HostClient{Addr: httpAddr}).Do(req, r); err != nil {
		t.Fatal(err)
	}
	_, httpsPort, _ := net.SplitHostPort(httpsAddr) // edge keeps a non-default HTTPS port
	if r.StatusCode() != 308 || string(r.Header.Peek("Location")) != "https://edge.test:"+httpsPort+"/a/b?c=d" {
		t.Errorf("redirect: %d %q", r.StatusCode(), r.Header.Peek("Location"))
	}

	// edge status shows the certificate with its issuer and expiry.
	code, out, errOut := runCmd("status", "--socket", filepath.Join(dir, "admin.sock"))
	if code != 0 || !strings.Contains(out, "certificates:") || !strings.Contains(out, "edge.test  valid  issuer Pebble Intermediate CA") {
		t.Errorf("edge status: %d\n%s%s", code, out, errOut)
	}

	// A name not under sites gets no certificate and causes no order.
	orders := p.Orders()
	if _, err := tlsDial(httpsAddr, "other.test", p); err == nil {
		t.Error("handshake for other.test succeeded")
	}
	if err := stop(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}

	// Restart on the same state_dir: the stored certificate is served, no new order.
	cfg2, err := loadConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	stop2 := runServe(t, cfg2)
	if again := waitForCertificate(t, httpsAddr, "edge.test", p); again != serial {
		t.Errorf("restart served serial %s, want the stored %s", again, serial)
	}
	if p.Orders() != orders {
		t.Errorf("orders went from %d to %d; want none after restart or for other.test (%v)", orders, p.Orders(), p.OrderedNames())
	}
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
}

func tlsDial(addr, name string, p *pebbletest.Pebble) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: name, RootCAs: p.IssuerRoots(), NextProtos: []string{"http/1.1"}})
}

func waitForCertificate(t *testing.T, addr, name string, p *pebbletest.Pebble) string {
	t.Helper()
	var serial string
	wait.NoError(t, 90*time.Second, "a verified certificate for "+name, func() error {
		c, err := tlsDial(addr, name, p)
		if err != nil {
			return err
		}
		serial = c.ConnectionState().PeerCertificates[0].SerialNumber.String()
		return c.Close()
	})
	return serial
}

func httpsGet(t *testing.T, addr, name string, p *pebbletest.Pebble, path string) *fasthttp.Response {
	t.Helper()
	c := &fasthttp.HostClient{Addr: addr, IsTLS: true, TLSConfig: &tls.Config{ServerName: name, RootCAs: p.IssuerRoots()}}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("https://" + name + path)
	if err := c.Do(req, resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

// eventuallyOK retries f for up to 30 s until it returns nil.
func eventuallyOK(t *testing.T, f func() error) {
	t.Helper()
	wait.NoError(t, 30*time.Second, "success", f)
}
