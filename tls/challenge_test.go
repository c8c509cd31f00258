package edgetls_test

import (
	"net"
	"strings"
	"testing"

	edgetls "github.com/edge-server/edge/tls"
	"github.com/valyala/fasthttp"
)

func newTestManager(t testing.TB, cfg edgetls.Config) *edgetls.Manager {
	t.Helper()
	if cfg.StorageDir == "" {
		cfg.StorageDir = t.TempDir()
	}
	m, err := edgetls.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(t.Context()) })
	return m
}

func requestCtx(method, host, uri string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.SetHost(host)
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	return ctx
}

// TestHandleHTTPChallengeDeclines: everything that is not a live HTTP-01 token for a
// managed host is left to the proxy untouched, hostile input included. (A live token
// is answered in TestIssueHTTP01.)
func TestHandleHTTPChallengeDeclines(t *testing.T) {
	t.Parallel()
	m := newTestManager(t, edgetls.Config{Hosts: []string{"a.example.com"}})
	cases := []struct{ method, host, uri string }{
		{"GET", "a.example.com", "/"},
		{"GET", "a.example.com", "/index.html"},
		{"GET", "a.example.com", "/.well-known/"},
		{"GET", "a.example.com", "/.well-known/acme-challenge"},
		{"GET", "a.example.com", "/.well-known/acme-challenge/"},
		{"GET", "a.example.com", "/.well-known/acme-challenge/token-nobody-presented"},
		{"GET", "a.example.com:8080", "/.well-known/acme-challenge/x"},
		{"GET", "A.EXAMPLE.COM", "/.well-known/acme-challenge/x"},
		{"POST", "a.example.com", "/.well-known/acme-challenge/x"},
		{"HEAD", "a.example.com", "/.well-known/acme-challenge/x"},
		{"GET", "b.example.com", "/.well-known/acme-challenge/x"},
		{"GET", "", "/.well-known/acme-challenge/x"},
		{"GET", "[::1]:80", "/.well-known/acme-challenge/x"},
		{"GET", "[::1", "/.well-known/acme-challenge/x"},
		{"GET", "a.example.com", "/.well-known/acme-challenge/../../etc/passwd"},
		{"GET", "a.example.com", "/.well-known/acme-challenge/%2e%2e/x"},
		{"GET", "a.example.com", "/.well-known/acme-challenge/" + strings.Repeat("A", 64<<10)},
		{"GET", strings.Repeat("h", 64<<10), "/.well-known/acme-challenge/x"},
		{"GET", "a.example.com\x00", "/.well-known/acme-challenge/x"},
	}
	for _, tc := range cases {
		ctx := requestCtx(tc.method, tc.host, tc.uri)
		if m.HandleHTTPChallenge(ctx) {
			t.Errorf("%s %s%.60s was handled", tc.method, tc.host, tc.uri)
		}
		if ctx.Response.StatusCode() != fasthttp.StatusOK || len(ctx.Response.Body()) != 0 {
			t.Errorf("%s %.60s: response was touched: %d %q", tc.method, tc.uri, ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	off := newTestManager(t, edgetls.Config{Hosts: []string{"a.example.com"}, DisableHTTPChallenge: true})
	if off.HandleHTTPChallenge(requestCtx("GET", "a.example.com", "/.well-known/acme-challenge/x")) {
		t.Error("handled with HTTP-01 disabled")
	}
}

// TestHandleHTTPChallengeHotPathAllocs: ordinary requests cost one prefix compare.
func TestHandleHTTPChallengeHotPathAllocs(t *testing.T) {
	m := newTestManager(t, edgetls.Config{Hosts: []string{"a.example.com"}})
	ctx := requestCtx("GET", "a.example.com", "/api/messages?room=1")
	if n := testing.AllocsPerRun(1000, func() { m.HandleHTTPChallenge(ctx) }); n != 0 {
		t.Errorf("HandleHTTPChallenge allocates %.1f times for a non-challenge path", n)
	}
}

func BenchmarkHandleHTTPChallengeMiss(b *testing.B) {
	m := newTestManager(b, edgetls.Config{Hosts: []string{"a.example.com"}})
	ctx := requestCtx("GET", "a.example.com", "/api/messages?room=1")
	b.ReportAllocs()
	for b.Loop() {
		m.HandleHTTPChallenge(ctx)
	}
}

// FuzzHandleHTTPChallenge: arbitrary methods, hosts and paths never panic and never
// get an answer (no challenge is live).
func FuzzHandleHTTPChallenge(f *testing.F) {
	f.Add("GET", "a.example.com", "/.well-known/acme-challenge/abc")
	f.Add("GET", "[::1]:80", "/.well-known/acme-challenge/")
	f.Add("POST", "A.EXAMPLE.COM.", "/")
	f.Add("GET", "a.example.com:", "/.well-known/acme-challenge//..//")
	m := newTestManager(f, edgetls.Config{Hosts: []string{"a.example.com"}})
	f.Fuzz(func(t *testing.T, method, host, uri string) {
		ctx := requestCtx(method, host, uri)
		if m.HandleHTTPChallenge(ctx) {
			t.Errorf("%q %q %q answered without a live challenge", method, host, uri)
		}
	})
}
