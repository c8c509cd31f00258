package proxy

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Graceful hand-over of client connections at shutdown (`systemctl restart edge`).
//
// fasthttp's own Server.Shutdown closes every idle keep-alive connection at once and
// every 100 ms after. A keep-alive client firing requests back-to-back is idle for a few
// microseconds between a response and its next request, so that close races the next
// request: the client sees a reset or EOF instead of an answer (issue 14: 229 socket
// errors in 74k requests over 3 restarts). edge drains itself instead:
//
//   - the listener closes at once (under edge.socket systemd keeps the socket, so new
//     connections wait in the kernel's queue for the next edge);
//   - a request in flight finishes, and every response written while draining carries
//     `Connection: close`, so a busy keep-alive client learns to reconnect from the
//     answer to the request it was sending anyway;
//   - a connection that has been quiet for idleGrace since its last response is
//     half-closed (FIN, TLS close_notify): a client sees the end before it sends, and no
//     reset destroys a response still in its buffers. A request that crossed the FIN is
//     read and dropped without being run (its answer could not be written);
//   - a half-closed connection whose client does not close within halfCloseLinger is
//     closed;
//   - Shutdown returns as soon as no connection is left, not at the grace deadline.
const (
	// idleGrace is how long a connection must have been quiet before draining closes it.
	// It is far longer than the gap between a keep-alive client's response and its next
	// request, which then gets `Connection: close` instead of a race.
	idleGrace = 250 * time.Millisecond
	// firstRequestQuiet is how long a connection that received something but never
	// completed a request (a TLS handshake, or a stalled first request) must have
	// received nothing more before draining ends it.
	firstRequestQuiet = time.Second
	// halfCloseLinger bounds the wait for a client to close after edge's FIN.
	halfCloseLinger = time.Second
	// drainTick is how often draining looks at the connections.
	drainTick = 10 * time.Millisecond
)

// connDrain follows every connection one fasthttp.Server serves (its ConnState hook)
// so Shutdown can end each at the right moment. Hijacked connections (WebSockets) leave
// it: the WebSocket proxy and the chat close those with 1001.
type connDrain struct {
	conns    sync.Map // net.Conn → *drainConn
	draining atomic.Bool
	timeouts clientTimeouts // enforced by sweep and wrap (clienttimeouts.go)
}

// drainConn is one connection's state as fasthttp last reported it.
type drainConn struct {
	state      atomic.Int32 // fasthttp.ConnState
	since      atomic.Int64 // unix nanoseconds of the last state change
	halfClosed atomic.Int64 // unix nanoseconds of edge's FIN; 0 = not yet
	handling   atomic.Int32 // handlers running on this connection (0 or 1)
	served     atomic.Bool  // a handler returned at least once
	answering  atomic.Bool  // a request was read; its answer is not written yet

	writeSet time.Time // when the write deadline was last moved (the connection's goroutine only)

	// Only the draining goroutine touches these: bytes received, and since when.
	rcvd      uint64
	rcvdSince int64
}

// hook is fasthttp.Server.ConnState. It runs on the connection's own goroutine (or the
// accept loop's, for StateNew), allocates only for a new connection and takes no lock
// on the per-request transitions.
func (d *connDrain) hook(c net.Conn, st fasthttp.ConnState) {
	switch st {
	case fasthttp.StateNew:
		dc := &drainConn{}
		dc.set(st)
		d.conns.Store(c, dc)
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		d.conns.Delete(c)
	default:
		if v, ok := d.conns.Load(c); ok {
			v.(*drainConn).set(st)
		}
	}
}

// set records a state change. since is stored before state, and expireOverdue loads
// state before since: whoever sees the new state also sees its time. (The other order
// let the sweep pair a new StateActive with the old idle time and expire a request
// that had just begun: TestSlowKeepAliveRequestIs408 caught it under -race.)
func (dc *drainConn) set(st fasthttp.ConnState) {
	dc.since.Store(time.Now().UnixNano())
	dc.state.Store(int32(st))
	dc.answering.Store(false)
}

// wrap makes h answer with `Connection: close` while draining, and drop (not run) a
// request that arrived on a connection edge already half-closed.
func (d *connDrain) wrap(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		v, _ := d.conns.Load(ctx.Conn())
		dc, _ := v.(*drainConn)
		if dc == nil { // not from this server's listener (tests calling the handler)
			h(ctx)
			return
		}
		if d.draining.Load() && dc.halfClosed.Load() != 0 {
			ctx.SetConnectionClose()
			return
		}
		dc.answering.Store(true)
		dc.handling.Add(1)
		h(ctx)
		dc.served.Store(true)
		dc.handling.Add(-1)
		if d.draining.Load() && !ctx.Hijacked() {
			ctx.SetConnectionClose()
		}
		d.extendWrite(ctx.Conn(), dc)
	}
}

// begin marks the server as draining; call it before closing the listener so no
// response after that point goes out without `Connection: close`.
func (d *connDrain) begin() { d.draining.Store(true) }

// drain ends every connection as described above and returns once none is left. When
// ctx ends first it closes the rest and says how many were cut.
func (d *connDrain) drain(ctx context.Context) error {
	d.begin()
	tick := time.NewTicker(drainTick)
	defer tick.Stop()
	for {
		if d.step(time.Now()) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			cut := d.closeAll()
			if cut == 0 {
				return nil
			}
			return fmt.Errorf("closed %d client connections still open at the shutdown deadline: %w", cut, ctx.Err())
		case <-tick.C:
		}
	}
}

// step half-closes connections quiet for idleGrace, closes those that lingered after
// the FIN, and returns how many are open.
func (d *connDrain) step(now time.Time) (open int) {
	n := now.UnixNano()
	d.conns.Range(func(k, v any) bool {
		open++
		c, dc := k.(net.Conn), v.(*drainConn)
		if hc := dc.halfClosed.Load(); hc != 0 {
			if time.Duration(n-hc) >= halfCloseLinger {
				_ = c.Close()
			}
			return true
		}
		if dc.quiet(c, n) {
			dc.halfClosed.Store(n)
			halfClose(c)
		}
		return true
	})
	return open
}

// quiet reports whether the connection may be ended now: between requests for
// idleGrace, or still waiting for its first request. fasthttp marks a new connection
// active before its first byte arrives, so for that case the kernel's count of bytes
// received decides: nothing ever received (plain HTTP) for idleGrace, or nothing more
// for firstRequestQuiet (TLS, whose handshake counts; a request being uploaded keeps
// it busy).
func (dc *drainConn) quiet(c net.Conn, now int64) bool {
	switch fasthttp.ConnState(dc.state.Load()) {
	case fasthttp.StateIdle, fasthttp.StateNew:
		return time.Duration(now-dc.since.Load()) >= idleGrace
	case fasthttp.StateActive:
		if dc.served.Load() || dc.handling.Load() != 0 {
			return false
		}
		rcvd, ok := bytesReceived(c)
		if !ok {
			return false
		}
		if rcvd != dc.rcvd || dc.rcvdSince == 0 {
			dc.rcvd, dc.rcvdSince = rcvd, now
		}
		if rcvd == 0 {
			return time.Duration(now-dc.since.Load()) >= idleGrace
		}
		return time.Duration(now-dc.rcvdSince) >= firstRequestQuiet
	}
	return false
}

// closeAll closes every connection left and returns how many there were.
func (d *connDrain) closeAll() (n int) {
	d.conns.Range(func(k, _ any) bool {
		_ = k.(net.Conn).Close()
		n++
		return true
	})
	return n
}

// halfClose sends FIN (on TLS, close_notify first) and keeps the read side open, so
// whatever the client sent meanwhile is read instead of answered with a reset. A
// connection that cannot be half-closed (TLS before its handshake) is closed.
func halfClose(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		return
	}
	_ = c.Close()
}
