package edgetls_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/edge-server/edge/internal/wait"
	edgetls "github.com/edge-server/edge/tls"
	"github.com/edge-server/edge/tls/pebbletest"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Generous: issuance against pebble takes well under a second on an idle machine,
// but the CI box has 2 cores shared with other test runs and -race.
const issueTimeout = 90 * time.Second

// listeners are a site's two real loopback listeners, bound before pebble starts so
// its validation authority can be pointed at them.
type listeners struct {
	http, https net.Listener
}

func newListeners(t *testing.T) listeners {
	t.Helper()
	return listeners{http: listen(t), https: listen(t)}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

func port(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

// baseConfig is a Manager config for hosts served on lns, trusting pebble p.
func baseConfig(t *testing.T, p *pebbletest.Pebble, lns listeners, hosts ...string) edgetls.Config {
	return edgetls.Config{
		Hosts:      hosts,
		Email:      "ops@edge.test",
		CA:         p.DirectoryURL,
		CARootPEM:  p.ServerRootPEM,
		StorageDir: t.TempDir(),
		ListenHost: "127.0.0.1",
		HTTPPort:   port(lns.http),
		HTTPSPort:  port(lns.https),
	}
}

// serve runs what the proxy will run: a plain-HTTP fasthttp server that offers every
// request to HandleHTTPChallenge first and otherwise answers from a "/" catch-all
// route, and an HTTPS fasthttp server on Manager.TLSConfig().
func serve(t *testing.T, m *edgetls.Manager, lns listeners) {
	t.Helper()
	plain := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if m.HandleHTTPChallenge(ctx) {
				return
			}
			ctx.SetStatusCode(fasthttp.StatusOK)
			ctx.SetBodyString("catch-all " + string(ctx.Path()))
		},
		Logger: quietLogger{},
	}
	secure := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetBodyString("hello from " + string(ctx.Host()))
		},
		Logger: quietLogger{},
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = plain.Serve(lns.http) }()
	go func() { defer wg.Done(); _ = secure.Serve(tls.NewListener(lns.https, m.TLSConfig())) }()
	t.Cleanup(func() {
		_ = plain.Shutdown()
		_ = secure.Shutdown()
		wg.Wait()
	})
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// startManager creates and starts a Manager on lns and shuts it down at cleanup.
func startManager(t *testing.T, cfg edgetls.Config, lns listeners, log *zap.Logger) *edgetls.Manager {
	t.Helper()
	m, err := edgetls.New(cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	serve(t, m, lns)
	if err := m.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { shutdown(t, m) })
	return m
}

func shutdown(t *testing.T, m *edgetls.Manager) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// httpsGet fetches https://name/ through addr, verifying against roots.
func httpsGet(addr, name string, roots *x509.CertPool) (string, *tls.ConnectionState, error) {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: name, NextProtos: []string{"http/1.1"}},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.Get("https://" + name + "/")
	if err != nil {
		return "", nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return string(body), resp.TLS, err
}

// waitHTTPS polls until an HTTPS request for name verifies against roots.
func waitHTTPS(t *testing.T, addr, name string, roots *x509.CertPool) (string, *tls.ConnectionState) {
	t.Helper()
	deadline := time.Now().Add(issueTimeout)
	var last error
	for time.Now().Before(deadline) {
		body, cs, err := httpsGet(addr, name, roots)
		if err == nil {
			return body, cs
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no verified HTTPS for %s within %v; last error: %v", name, issueTimeout, last)
	return "", nil
}

// handshake does a bare TLS handshake with the given SNI and ALPN offers.
func handshake(addr, sni string, protos []string, roots *x509.CertPool) (*tls.ConnectionState, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{
		ServerName:         sni,
		NextProtos:         protos,
		RootCAs:            roots,
		InsecureSkipVerify: roots == nil,
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Close() }()
	cs := c.ConnectionState()
	return &cs, nil
}

// testLogger logs to t until cleanup (certmagic goroutines may outlive a test) and
// into an observer for assertions.
func testLogger(t *testing.T) (*zap.Logger, *observer.ObservedLogs) {
	w := &guardedWriter{t: t}
	t.Cleanup(w.stop)
	obsCore, logs := observer.New(zapcore.DebugLevel)
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	core := zapcore.NewTee(zapcore.NewCore(enc, zapcore.AddSync(w), zapcore.DebugLevel), obsCore)
	return zap.New(core), logs
}

type guardedWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *guardedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(b[:len(b)-1]))
	}
	return len(b), nil
}

func (w *guardedWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	wait.Until(t, timeout, what, cond)
}

func statusOf(m *edgetls.Manager, name string) edgetls.CertStatus {
	for _, st := range m.Status() {
		if st.Name == name {
			return st
		}
	}
	return edgetls.CertStatus{}
}

func addrOf(ln net.Listener) string { return ln.Addr().String() }

var errNoCert = errors.New("no certificate")

func leafOf(cs *tls.ConnectionState) (*x509.Certificate, error) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return nil, errNoCert
	}
	return cs.PeerCertificates[0], nil
}

// plainGet fetches http://host/path through addr and returns the body.
func plainGet(t *testing.T, addr, host, path string) string {
	t.Helper()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(fmt.Sprintf("http://%s%s", host, path))
	c := &fasthttp.HostClient{Addr: addr}
	if err := c.DoTimeout(req, resp, 10*time.Second); err != nil {
		t.Fatalf("GET http://%s%s via %s: %v", host, path, addr, err)
	}
	return string(resp.Body())
}

// serveCatchAll answers every request on ln with 200 "catch-all", never a challenge.
func serveCatchAll(t *testing.T, ln net.Listener) {
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("catch-all") },
		Logger:  quietLogger{},
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	go func() { defer close(done); _ = srv.Serve(ln) }()
}
