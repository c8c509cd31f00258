package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
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

// rawKeepAlive is a keep-alive HTTP/1.1 client on a raw socket that counts exactly
// what wrk counts: connect errors, socket errors (write, read, EOF before a full
// response), non-2xx answers. It reconnects only after a response said
// `Connection: close`, or after an error.
type rawKeepAlive struct {
	addr      string
	think     time.Duration // pause between requests (0 = back-to-back)
	ok        atomic.Int64
	closes    atomic.Int64 // responses with Connection: close
	refused   atomic.Int64
	sockErrs  atomic.Int64
	non2xx    atomic.Int64
	mu        sync.Mutex
	firstErrs []string
}

func (k *rawKeepAlive) fail(counter *atomic.Int64, what string, err error) {
	counter.Add(1)
	k.mu.Lock()
	if len(k.firstErrs) < 5 {
		k.firstErrs = append(k.firstErrs, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), what, err))
	}
	k.mu.Unlock()
}

func (k *rawKeepAlive) run(stop <-chan struct{}) {
	req := []byte("GET /x HTTP/1.1\r\nHost: app.test\r\n\r\n")
	var resp fasthttp.Response
	for {
		c, err := net.DialTimeout("tcp", k.addr, 5*time.Second)
		if err != nil {
			k.fail(&k.refused, "connect", err)
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		br := bufio.NewReader(c)
		for {
			select {
			case <-stop:
				c.Close()
				return
			default:
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(req); err != nil {
				k.fail(&k.sockErrs, "write", err)
				break
			}
			resp.Reset()
			if err := resp.Read(br); err != nil {
				k.fail(&k.sockErrs, "read", err)
				break
			}
			if resp.StatusCode()/100 != 2 {
				k.fail(&k.non2xx, "status", fmt.Errorf("%d", resp.StatusCode()))
			} else {
				k.ok.Add(1)
			}
			if resp.ConnectionClose() {
				k.closes.Add(1)
				break
			}
			if k.think > 0 {
				time.Sleep(k.think)
			}
		}
		c.Close()
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

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var clients []*rawKeepAlive
	for i := 0; i < 16; i++ {
		k := &rawKeepAlive{addr: addr}
		if i%4 == 3 {
			k.think = time.Duration(i) * time.Millisecond // pauses well under idleGrace
		}
		clients = append(clients, k)
		wg.Add(1)
		go func() { defer wg.Done(); k.run(stop) }()
	}
	total := func(f func(*rawKeepAlive) int64) (n int64) {
		for _, k := range clients {
			n += f(k)
		}
		return n
	}
	okCount := func() int64 { return total(func(k *rawKeepAlive) int64 { return k.ok.Load() }) }
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
	close(stop)
	wg.Wait()
	_ = b

	refused := total(func(k *rawKeepAlive) int64 { return k.refused.Load() })
	sockErrs := total(func(k *rawKeepAlive) int64 { return k.sockErrs.Load() })
	non2xx := total(func(k *rawKeepAlive) int64 { return k.non2xx.Load() })
	closes := total(func(k *rawKeepAlive) int64 { return k.closes.Load() })
	t.Logf("hand-over: %d ok (%d before Shutdown), %d Connection: close, %d refused, %d socket errors, %d non-2xx; Shutdown took %s",
		okCount(), before, closes, refused, sockErrs, non2xx, took)
	if refused+sockErrs+non2xx != 0 {
		for _, k := range clients {
			if len(k.firstErrs) > 0 {
				t.Errorf("client errors: %v", k.firstErrs)
			}
		}
		t.Fatalf("%d refused, %d socket errors, %d non-2xx across the hand-over; want 0", refused, sockErrs, non2xx)
	}
	if closes < int64(len(clients)) {
		t.Errorf("%d responses said Connection: close; every one of the %d clients should have been told", closes, len(clients))
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
