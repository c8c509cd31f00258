//go:build linux

package idlepoll

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-server/edge/internal/wait"
)

// pair is a loopback TCP connection: our end's descriptor and the peer.
type pair struct {
	ours *net.TCPConn
	fd   int
	peer *net.TCPConn
}

func newPairs(t *testing.T, n int) []pair {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	out := make([]pair, n)
	for i := range out {
		peer, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = pair{ours: c.(*net.TCPConn), fd: fdOf(t, c.(*net.TCPConn)), peer: peer.(*net.TCPConn)}
		t.Cleanup(func() { _ = c.Close(); _ = peer.Close() })
	}
	return out
}

func fdOf(t *testing.T, c *net.TCPConn) int {
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

func newPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// What wakes a parked socket: data, a FIN, a reset — each exactly once, and nothing
// before it happens.
func TestWakesOnceOnDataFinAndReset(t *testing.T) {
	p := newPoller(t)
	for _, tc := range []struct {
		name string
		do   func(peer *net.TCPConn)
	}{
		{"data", func(c *net.TCPConn) { _, _ = c.Write([]byte{0x81}) }},
		{"fin", func(c *net.TCPConn) { _ = c.CloseWrite() }},
		{"reset", func(c *net.TCPConn) { _ = c.SetLinger(0); _ = c.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := newPairs(t, 1)[0]
			var woken atomic.Int32
			if err := p.Park(pr.fd, func() { woken.Add(1) }); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			if woken.Load() != 0 {
				t.Fatal("woken before anything happened")
			}
			tc.do(pr.peer)
			wait.Until(t, 5*time.Second, "the wake-up", func() bool { return woken.Load() == 1 })
			_, _ = pr.peer.Write([]byte{1, 2, 3}) // more events must not wake it again
			time.Sleep(20 * time.Millisecond)
			if n := woken.Load(); n != 1 || p.Parked() != 0 {
				t.Fatalf("woken %d times, %d still parked", n, p.Parked())
			}
		})
	}
}

// Data that arrived before Park (a frame already in the socket) wakes at once.
func TestParkWithDataWaitingWakesAtOnce(t *testing.T) {
	p := newPoller(t)
	pr := newPairs(t, 1)[0]
	_, _ = pr.peer.Write([]byte("x"))
	time.Sleep(10 * time.Millisecond)
	woke := make(chan struct{})
	if err := p.Park(pr.fd, func() { close(woke) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woke:
	case <-time.After(5 * time.Second):
		t.Fatal("data waiting in the socket did not wake it")
	}
}

// Unpark racing a wake-up: exactly one of them wins, every time.
func TestUnparkRacesWake(t *testing.T) {
	p := newPoller(t)
	prs := newPairs(t, 300)
	var woken, unparked atomic.Int32
	var wg sync.WaitGroup
	for _, pr := range prs {
		if err := p.Park(pr.fd, func() { woken.Add(1) }); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _, _ = pr.peer.Write([]byte{1}) })
		wg.Go(func() {
			if p.Unpark(pr.fd) {
				unparked.Add(1)
			}
		})
	}
	wg.Wait()
	wait.Until(t, 5*time.Second, "every connection decided", func() bool { return woken.Load()+unparked.Load() == int32(len(prs)) })
	time.Sleep(20 * time.Millisecond)
	if w, u := woken.Load(), unparked.Load(); w+u != int32(len(prs)) || p.Parked() != 0 {
		t.Fatalf("woken %d + unparked %d, want %d in all; %d still parked", w, u, len(prs), p.Parked())
	}
}

// A descriptor unparked and closed, its number reused by another connection and parked
// again: the newcomer is woken by its own data only, and the old owner never.
func TestReusedDescriptorNumber(t *testing.T) {
	p := newPoller(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var oldWoken atomic.Int32
	for range 50 {
		peer, _ := net.Dial("tcp", ln.Addr().String())
		c, _ := ln.Accept()
		fd := fdOf(t, c.(*net.TCPConn))
		if err := p.Park(fd, func() { oldWoken.Add(1) }); err != nil {
			t.Fatal(err)
		}
		if !p.Unpark(fd) {
			t.Fatal("Unpark of a parked descriptor said it was not parked")
		}
		_ = c.Close()
		_, _ = peer.Write([]byte{1}) // to a closed socket: must wake nobody
		_ = peer.Close()
	}
	prs := newPairs(t, 50)
	var woken atomic.Int32
	for _, pr := range prs {
		if err := p.Park(pr.fd, func() { woken.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(30 * time.Millisecond)
	if woken.Load() != 0 || oldWoken.Load() != 0 {
		t.Fatalf("woken without data: %d new, %d old owners", woken.Load(), oldWoken.Load())
	}
	for _, pr := range prs {
		_, _ = pr.peer.Write([]byte{1})
	}
	wait.Until(t, 5*time.Second, "every newcomer woken", func() bool { return woken.Load() == int32(len(prs)) })
	if oldWoken.Load() != 0 {
		t.Fatalf("%d old owners woken", oldWoken.Load())
	}
}

// Parking a descriptor that is not open fails; parking after Close fails; Close wakes
// whoever is still parked.
func TestParkErrorsAndClose(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	pr := newPairs(t, 1)[0]
	if err := p.Park(1<<20, func() {}); err == nil {
		t.Fatal("parked a descriptor that is not open")
	}
	woke := make(chan struct{})
	if err := p.Park(pr.fd, func() { close(woke) }); err != nil {
		t.Fatal(err)
	}
	p.Close()
	select {
	case <-woke:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake a parked descriptor")
	}
	if err := p.Park(pr.fd, func() {}); err != ErrClosed {
		t.Fatalf("Park after Close: %v", err)
	}
	p.Close() // twice is fine
}

// Thousands parked, then all readable at once: each woken exactly once.
func TestManyParked(t *testing.T) {
	p := newPoller(t)
	prs := newPairs(t, 2000)
	counts := make([]atomic.Int32, len(prs))
	for i, pr := range prs {
		if err := p.Park(pr.fd, func() { counts[i].Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	for _, pr := range prs {
		_, _ = pr.peer.Write([]byte{1})
	}
	wait.Until(t, 5*time.Second, "all woken", func() bool { return p.Parked() == 0 })
	time.Sleep(20 * time.Millisecond)
	for i := range counts {
		if n := counts[i].Load(); n != 1 {
			t.Fatalf("connection %d woken %d times", i, n)
		}
	}
}
