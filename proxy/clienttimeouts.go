package proxy

import (
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// Client timeouts without a timer update per request.
//
// fasthttp enforces read_timeout, idle_timeout and write_timeout by setting the
// socket's deadlines: two read deadlines and one write deadline per keep-alive request,
// each a clock read and a runtime timer update (about 5% of the CPU of a small proxied
// request, docs/benchmarks.md). edge's servers leave fasthttp's timeouts off and
// enforce them here instead:
//
//   - read_timeout and idle_timeout by a sweep over the connections connDrain already
//     tracks (their fasthttp state and since when): a connection that has been reading
//     its request for read_timeout (the first one counts from the accept, the TLS
//     handshake included), or waiting between requests for idle_timeout, gets a read
//     deadline in the past, so fasthttp's read fails exactly as it would have at its
//     own deadline (408 for a request cut short, a quiet close when idle). The sweep
//     runs every eighth of the shorter timeout, so a timeout fires between 1 and 9/8
//     of its value.
//   - write_timeout by the handler wrapper, just before fasthttp writes the answer:
//     the write deadline is moved only when it would move by more than an eighth of
//     write_timeout (so it is between 7/8 and all of it). Streamed bodies push it
//     further on every read (upstreamBody), as before.
//
// Hijacked connections (WebSockets, the chat) leave the sweep with connDrain; they keep
// the write deadline set for their 101 and set their own deadlines from there.

// clientTimeouts are a server's read, idle and write timeouts.
type clientTimeouts struct {
	read, idle, write time.Duration
}

// sweepEvery is how often the timeouts are checked.
func (t clientTimeouts) sweepEvery() time.Duration {
	return min(max(min(t.read, t.idle)/8, 5*time.Millisecond), time.Second)
}

// expired is a deadline that has passed: a read with it fails at once.
var expired = time.Unix(1, 0)

// sweep expires the read deadline of connections over their read or idle timeout
// until stop is closed.
func (d *connDrain) sweep(stop <-chan struct{}) {
	tick := time.NewTicker(d.timeouts.sweepEvery())
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			d.expireOverdue(now.UnixNano())
		}
	}
}

// expireOverdue expires the read deadline of every connection past its timeout at now.
func (d *connDrain) expireOverdue(now int64) {
	read, idle := int64(d.timeouts.read), int64(d.timeouts.idle)
	d.conns.Range(func(k, v any) bool {
		c, dc := k.(net.Conn), v.(*drainConn)
		state := fasthttp.ConnState(dc.state.Load()) // before since: see drainConn.set
		since := dc.since.Load()
		var limit int64
		switch state {
		case fasthttp.StateNew, fasthttp.StateActive:
			if dc.answering.Load() {
				return true // the handler runs or the answer is being written
			}
			limit = read
		case fasthttp.StateIdle:
			limit = idle
		default:
			return true
		}
		if limit > 0 && now-since >= limit {
			_ = c.SetReadDeadline(expired)
			if dc.since.Load() != since {
				// The connection moved on meanwhile (a request arrived just now): it is
				// not overdue, and edge sets no other read deadline on it.
				_ = c.SetReadDeadline(time.Time{})
			}
		}
		return true
	})
}

// extendWrite moves the write deadline of a connection about to be answered to
// write_timeout from now, unless it is already within an eighth of that.
func (d *connDrain) extendWrite(c net.Conn, dc *drainConn) {
	w := d.timeouts.write
	if w <= 0 {
		return
	}
	now := time.Now()
	if now.Sub(dc.writeSet) > w/8 {
		_ = c.SetWriteDeadline(now.Add(w))
		dc.writeSet = now
	}
}

// wrapError gives fasthttp's error handler (answers to requests it could not read)
// the write deadline, as wrap does for the handler.
func (d *connDrain) wrapError(h func(*fasthttp.RequestCtx, error)) func(*fasthttp.RequestCtx, error) {
	return func(ctx *fasthttp.RequestCtx, err error) {
		h(ctx, err)
		if v, ok := d.conns.Load(ctx.Conn()); ok {
			d.extendWrite(ctx.Conn(), v.(*drainConn))
		}
	}
}
