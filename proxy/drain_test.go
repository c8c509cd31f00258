package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edge-server/edge/internal/loadgen"
)

// heldListener is what systemd's edge.socket is to successive edge processes: one
// listening socket; each proxy gets its own dup of the descriptor, so closing one
// proxy's listener leaves the socket (and its queue) to the next.
func heldListener(t *testing.T) (addr string, dup func() net.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), func() net.Listener {
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		l, err := net.FileListener(f)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
}

// TestShutdownHandsOverKeepAliveClients is `systemctl restart edge` under keep-alive
// load, on real sockets: while proxy A shuts down, proxy B serves the same listening
// socket. Clients firing back-to-back (and with short pauses) must see no error: each
// response is normal or says `Connection: close`, after which they reconnect to B. A
// request in flight finishes, an idle keep-alive connection gets a FIN (not a reset),
// and Shutdown returns as soon as nothing is left, far before its deadline.
func TestShutdownHandsOverKeepAliveClients(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	addr, dup := heldListener(t)
	cfgA := oneApp(blue, green, shortTempDir(t))
	cfgA.HTTPListener = dup()
	a, err := New(cfgA, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}

	// 16 keep-alive connections like wrk -c16; every fourth pauses a little
	// (well under idleGrace) between requests.
	load := loadgen.Start(loadgen.Config{Addr: addr, Host: "app.test", Path: "/x", Conns: 16,
		Think: func(i int) time.Duration { return time.Duration(i%4/3*i) * time.Millisecond }})
	okCount := func() int64 { return load.Counts().OK }
	eventually(t, 10*time.Second, "load through A", func() bool { return okCount() > 2000 })

	// An idle keep-alive connection (one request, then silence) and a connection that
	// never sent anything: both must be ended with a FIN well before the deadline.
	idle := dialRaw(t, addr)
	if _, err := idle.Write([]byte("GET /x HTTP/1.1\r\nHost: app.test\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	idleBR := bufio.NewReader(idle)
	var r fasthttp.Response
	if err := r.Read(idleBR); err != nil {
		t.Fatal(err)
	}
	silent := dialRaw(t, addr)
	// A slow request in flight at Shutdown must finish.
	slow := make(chan string, 1)
	go func() {
		c := &fasthttp.HostClient{Addr: addr, ReadTimeout: 10 * time.Second}
		code, body, err := tryGet(c, "app.test", "/slow?ms=700")
		slow <- fmt.Sprintf("%d %s %v", code, body, err)
	}()
	eventually(t, 5*time.Second, "the slow request to reach blue", func() bool {
		for _, r := range blue.requests() {
			if r.URI == "/slow?ms=700" {
				return true
			}
		}
		return false
	})

	before := okCount()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	shut := make(chan error, 1)
	go func() { shut <- a.Shutdown(ctx) }()
	cfgB := oneApp(blue, green, shortTempDir(t))
	cfgB.HTTPListener = dup()
	b := startProxy(t, cfgB) // the next edge; accepts meanwhile
	var took time.Duration
	select {
	case err := <-shut:
		took = time.Since(start)
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Shutdown did not return within 15s")
	}
	if got := <-slow; got != "200 blue <nil>" {
		t.Errorf("request in flight at Shutdown ended with %s", got)
	}
	// 700 ms slow request + halfCloseLinger at most; the deadline is 20 s away.
	if took > 700*time.Millisecond+halfCloseLinger+time.Second {
		t.Errorf("Shutdown took %s; it must return once no connection is left", took)
	}
	for name, c := range map[string]net.Conn{"idle keep-alive": idle, "silent new": silent} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(make([]byte, 1))
		if n != 0 || !errors.Is(err, io.EOF) {
			t.Errorf("%s connection: read %d bytes, %v; want a clean EOF (FIN, not a reset)", name, n, err)
		}
	}
	after := okCount()
	eventually(t, 10*time.Second, "load through B", func() bool { return okCount() > after+2000 })
	got := load.Stop()
	_ = b
	t.Logf("hand-over: %s (%d ok before Shutdown); Shutdown took %s", got, before, took)
	if got.Errors() != 0 {
		t.Fatalf("%d failures across the hand-over, want 0: %s; first: %v", got.Errors(), got, got.FirstErrors)
	}
	if got.Closes < 16 {
		t.Errorf("%d responses said Connection: close; every one of the 16 connections should have been told", got.Closes)
	}
}

// TestShutdownDropsRequestCrossingFIN: a request that arrives on a connection edge
// already half-closed is read, not run (its answer could not be written), and the
// socket ends without a reset.
func TestShutdownDropsRequestCrossingFIN(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s, err := New(oneApp(blue, green, shortTempDir(t)), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, s.HTTPAddr())
	if _, err := c.Write([]byte("GET /first HTTP/1.1\r\nHost: app.test\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var r fasthttp.Response
	if err := r.Read(br); err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	// Wait for edge's FIN, then send a request anyway (as a client whose write crossed it).
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("want FIN on the idle connection, got %v", err)
	}
	_, _ = c.Write([]byte("POST /crossed HTTP/1.1\r\nHost: app.test\r\nContent-Length: 2\r\n\r\nhi"))
	_ = c.(*net.TCPConn).CloseWrite()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, r := range blue.requests() {
		if r.URI == "/crossed" {
			t.Fatalf("the request that crossed edge's FIN was forwarded: %+v", r)
		}
	}
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestShutdownEndsTLSConnectionsCleanly: on HTTPS a busy keep-alive client is told
// `Connection: close`, an idle one gets close_notify and EOF (not a reset), and a
// client that connected but never finished its handshake does not hold Shutdown up.
func TestShutdownEndsTLSConnectionsCleanly(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	tlsCfg, pool := selfSigned(t)
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Sites = []SiteConfig{{Hosts: []string{"a.example"}, Routes: []RouteConfig{{Path: "/", App: "web"}}}}
	cfg.HTTPSAddr = "127.0.0.1:0"
	cfg.TLSConfig = tlsCfg
	s, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	dialTLS := func() (*tls.Conn, *bufio.Reader) {
		c, err := tls.Dial("tcp", s.HTTPSAddr(), &tls.Config{RootCAs: pool, ServerName: "a.example", NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	exchange := func(c *tls.Conn, br *bufio.Reader) (*fasthttp.Response, error) {
		if _, err := c.Write([]byte("GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n")); err != nil {
			return nil, err
		}
		r := &fasthttp.Response{}
		return r, r.Read(br)
	}
	idle, idleBR := dialTLS()
	if _, err := exchange(idle, idleBR); err != nil {
		t.Fatal(err)
	}
	busy, busyBR := dialTLS()
	if _, err := exchange(busy, busyBR); err != nil {
		t.Fatal(err)
	}
	unfinished := dialRaw(t, s.HTTPSAddr()) // TCP only: no ClientHello
	_ = unfinished

	shut := make(chan error, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	// The busy client keeps going until told to close.
	for i := 0; ; i++ {
		r, err := exchange(busy, busyBR)
		if err != nil {
			t.Fatalf("busy TLS client, request %d during Shutdown: %v", i, err)
		}
		if r.ConnectionClose() {
			break
		}
	}
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := idleBR.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("idle TLS connection: %d bytes, %v; want close_notify then EOF", n, err)
	}
	idle.Close()
	busy.Close()
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	if took := time.Since(start); took > firstRequestQuiet+halfCloseLinger+time.Second {
		t.Errorf("Shutdown took %s with a client that never sent its ClientHello", took)
	}
}
