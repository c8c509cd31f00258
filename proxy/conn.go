package proxy

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// errCut is what a request sees when a drain closed its upstream connection.
	errCut = errors.New("the upstream connection was closed at the drain deadline")
	// errKilledUnsent is returned by Write on a connection a drain closed while it sat
	// in the pool; nothing was sent, so the request may be retried.
	errKilledUnsent = errors.New("the pooled upstream connection was closed by a drain")
)

// dialError marks a failure to connect: nothing was sent, a retry is safe.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// upConn is a connection to an upstream. It enforces the upstream timeout as an idle
// timeout between reads (the client's own read deadline would cut long streams) and
// lets a drain close every connection of a color at once.
type upConn struct {
	net.Conn
	set     *connSet
	idle    time.Duration
	lastSet time.Time // last read deadline refresh; used by one reader at a time
	killed  atomic.Bool
}

func (c *upConn) Read(p []byte) (int, error) {
	if c.killed.Load() {
		return 0, errCut
	}
	if now := time.Now(); now.Sub(c.lastSet) > c.idle/8 {
		_ = c.Conn.SetReadDeadline(now.Add(c.idle))
		c.lastSet = now
	}
	n, err := c.Conn.Read(p)
	if err != nil && c.killed.Load() {
		err = errCut
	}
	return n, err
}

func (c *upConn) Write(p []byte) (int, error) {
	if c.killed.Load() {
		return 0, errKilledUnsent
	}
	return c.Conn.Write(p)
}

// SetReadDeadline is ignored: Read manages the read deadline itself.
func (c *upConn) SetReadDeadline(time.Time) error { return nil }

// SetDeadline only applies to writes, for the same reason.
func (c *upConn) SetDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(t) }

func (c *upConn) Close() error {
	c.set.remove(c)
	return c.Conn.Close()
}

// connSet tracks the open connections to one upstream.
type connSet struct {
	mu    sync.Mutex
	conns map[*upConn]struct{}
}

func (s *connSet) add(c *upConn) {
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[*upConn]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
}

func (s *connSet) remove(c *upConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *connSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// killAll closes every tracked connection; requests on them fail with errCut.
func (s *connSet) killAll() int {
	s.mu.Lock()
	list := make([]*upConn, 0, len(s.conns))
	for c := range s.conns {
		list = append(list, c)
	}
	s.mu.Unlock()
	for _, c := range list {
		c.killed.Store(true)
		_ = c.Conn.Close()
	}
	return len(list)
}
