package proxy

import (
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/edge-server/edge/internal/syncset"
)

var (
	// errCut is what a request sees when a drain closed its upstream connection.
	errCut = errors.New("the upstream connection was closed at the drain deadline")
	// errKilledUnsent is returned by Write on a connection a drain closed while it sat
	// in the pool; nothing was sent, so the request may be retried.
	errKilledUnsent = errors.New("the pooled upstream connection was closed by a drain")
	// errStaleUnsent is returned by Write on a pooled connection the upstream closed
	// while it was idle; nothing was sent, so any request may be retried.
	errStaleUnsent = errors.New("the upstream closed the idle keep-alive connection")
	// errUnaskedSwitch is what a request sees when the upstream answered 101 to a
	// request that asked for no upgrade.
	errUnaskedSwitch = errors.New("the upstream answered 101 Switching Protocols to a request without an upgrade")
)

// staleCheckAfter is how long a pooled connection must have been idle before a
// request first checks that the upstream has not closed it. Frameworks close idle
// keep-alive connections after a few seconds (Node.js: 5 s); sending a POST into
// such a connection would fail in a way that cannot be retried safely.
const staleCheckAfter = 500 * time.Millisecond

// dialError marks a failure to connect: nothing was sent, a retry is safe.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// upConn is a connection to an upstream. It enforces the upstream timeout as an idle
// timeout between reads and writes (the client's own read deadline would cut long
// streams) and lets a drain close every connection of a color at once.
//
// Deadlines are coarse: one is moved only when it would move by more than an eighth
// of the timeout, so a kept connection costs no timer update per request (the
// timeout is between 7/8 and all of idle).
type upConn struct {
	net.Conn
	set      *connSet
	idle     time.Duration
	lastRead time.Time // last read deadline refresh; used by one request at a time
	lastWrit time.Time // last write deadline refresh
	lastUse  time.Time // last read or write
	killed   atomic.Bool
}

func (c *upConn) Read(p []byte) (int, error) {
	if c.killed.Load() {
		return 0, errCut
	}
	now := time.Now()
	if now.Sub(c.lastRead) > c.idle/8 {
		_ = c.Conn.SetReadDeadline(now.Add(c.idle))
		c.lastRead = now
	}
	c.lastUse = now
	n, err := c.Conn.Read(p)
	if err != nil {
		err = c.readErr(err)
	}
	return n, err
}

// readErr turns what a read on a connection a drain closed returned into errCut.
func (c *upConn) readErr(err error) error {
	if c.killed.Load() {
		return errCut
	}
	return err
}

func (c *upConn) Write(p []byte) (int, error) {
	if c.killed.Load() {
		return 0, errKilledUnsent
	}
	now := time.Now()
	if !c.lastUse.IsZero() && now.Sub(c.lastUse) > staleCheckAfter && c.peerClosed() {
		c.set.staleFound()
		return 0, errStaleUnsent
	}
	if now.Sub(c.lastWrit) > c.idle/8 {
		_ = c.Conn.SetWriteDeadline(now.Add(c.idle))
		c.lastWrit = now
	}
	c.lastUse = now
	return c.Conn.Write(p)
}

func (c *upConn) Close() error {
	c.set.remove(c)
	return c.Conn.Close()
}

// connSet tracks the open connections to one upstream.
type connSet struct {
	conns syncset.Set[*upConn]
	// onStale runs when a pooled connection turned out closed by the upstream:
	// the other idle ones are at least as old, so the pool drops them all.
	onStale func()
}

func (s *connSet) staleFound() {
	if s.onStale != nil {
		s.onStale()
	}
}

func (s *connSet) add(c *upConn)    { s.conns.Add(c) }
func (s *connSet) remove(c *upConn) { s.conns.Remove(c) }
func (s *connSet) len() int         { return s.conns.Len() }

// killAll closes every tracked connection; requests on them fail with errCut.
func (s *connSet) killAll() int {
	list := s.conns.List()
	for _, c := range list {
		c.killed.Store(true)
		_ = c.Conn.Close()
	}
	return len(list)
}
