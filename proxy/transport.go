package proxy

import (
	"bufio"
	"errors"
	"sync"
	"time"
)

// errNoFreeConns is what a request sees when an upstream already has
// MaxConnsPerUpstream connections busy and none came free within the connect timeout.
var errNoFreeConns = errors.New("no free connection to the upstream: max_conns_per_upstream are all busy")

// pconn is one keep-alive connection of the upstream pool with its read buffer. One
// request uses it at a time; between requests it sits in upstreamPool.idle.
type pconn struct {
	c         *upConn
	br        *bufio.Reader
	idleSince time.Time
}

// upstreamPool is edge's own keep-alive pool of HTTP/1.1 connections to one upstream
// address (fasthttp's HostClient is only used for health checks). The freshest idle
// connection is reused first (LIFO): the others age out and are closed after
// maxIdle, so an upstream's own idle timeout rarely meets a connection edge still
// counts on. At most max connections are open; a request finding all of them busy
// waits up to wait for one.
type upstreamPool struct {
	dial    func() (*upConn, error)
	max     int
	wait    time.Duration
	maxIdle time.Duration
	bufSize int

	mu      sync.Mutex
	idle    []*pconn // oldest first
	open    int
	waiters []chan *pconn // FIFO; a nil pconn means "you may dial"
	reaping bool          // a reap timer is pending
}

// get returns an idle connection, or a new one.
func (p *upstreamPool) get() (*pconn, error) {
	p.mu.Lock()
	for n := len(p.idle); n > 0; n = len(p.idle) {
		pc := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if !pc.c.killed.Load() {
			p.mu.Unlock()
			return pc, nil
		}
		p.open-- // a drain closed it while it was idle
		p.mu.Unlock()
		pc.c.Close()
		p.mu.Lock()
	}
	if p.open < p.max {
		p.open++
		p.mu.Unlock()
		return p.dialNew()
	}
	ch := make(chan *pconn, 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	t := time.NewTimer(p.wait)
	defer t.Stop()
	select {
	case pc := <-ch:
		return p.handed(pc)
	case <-t.C:
	}
	p.mu.Lock()
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			p.mu.Unlock()
			return nil, errNoFreeConns
		}
	}
	p.mu.Unlock()
	return p.handed(<-ch) // handed over just as the wait ended
}

// handed takes what a returning request gave a waiter: its connection, or (nil) its
// place in the count.
func (p *upstreamPool) handed(pc *pconn) (*pconn, error) {
	if pc != nil {
		return pc, nil
	}
	return p.dialNew()
}

// dialNew connects; the caller already counted the connection in open.
func (p *upstreamPool) dialNew() (*pconn, error) {
	c, err := p.dial()
	if err != nil {
		p.release()
		return nil, err
	}
	return &pconn{c: c, br: bufio.NewReaderSize(c, p.bufSize)}, nil
}

// put returns a connection after a complete exchange, for the next request.
func (p *upstreamPool) put(pc *pconn, now time.Time) {
	pc.idleSince = now
	p.mu.Lock()
	if p.handOver(pc) {
		return
	}
	p.idle = append(p.idle, pc)
	if !p.reaping {
		p.reaping = true
		time.AfterFunc(p.maxIdle, p.reap)
	}
	p.mu.Unlock()
}

// discard closes a connection that must not carry another request.
func (p *upstreamPool) discard(pc *pconn) {
	pc.c.Close()
	p.release()
}

// release gives up one connection's place in the count (to a waiter, if any).
func (p *upstreamPool) release() {
	p.mu.Lock()
	if p.handOver(nil) {
		return
	}
	p.open--
	p.mu.Unlock()
}

// handOver gives pc (or, nil, a place in the count) to the longest waiting request,
// if there is one, and then unlocks p.mu. Called with p.mu held.
func (p *upstreamPool) handOver(pc *pconn) bool {
	if len(p.waiters) == 0 {
		return false
	}
	w := p.waiters[0]
	p.waiters = p.waiters[1:]
	p.mu.Unlock()
	w <- pc
	return true
}

// reap closes connections idle for maxIdle or longer, and comes back while any are
// left. No timer runs while the pool has no idle connection.
func (p *upstreamPool) reap() {
	cutoff := time.Now().Add(-p.maxIdle)
	p.mu.Lock()
	n := 0
	for n < len(p.idle) && !p.idle[n].idleSince.After(cutoff) {
		n++
	}
	old := append([]*pconn(nil), p.idle[:n]...)
	rest := copy(p.idle, p.idle[n:])
	clear(p.idle[rest:])
	p.idle = p.idle[:rest]
	p.open -= n
	if len(p.idle) > 0 {
		next := time.Until(p.idle[0].idleSince.Add(p.maxIdle))
		time.AfterFunc(max(next, time.Millisecond), p.reap)
	} else {
		p.reaping = false
	}
	p.mu.Unlock()
	for _, pc := range old {
		pc.c.Close()
	}
}

// closeIdle closes every idle connection now.
func (p *upstreamPool) closeIdle() {
	p.mu.Lock()
	old := p.idle
	p.idle = nil
	p.open -= len(old)
	p.mu.Unlock()
	for _, pc := range old {
		pc.c.Close()
	}
}
