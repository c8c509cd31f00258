package proxy

import (
	"errors"
	"io"
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
	// errSwitchedUnsent is returned by Write on a pooled connection whose upstream
	// answered 101: it speaks another protocol now; nothing was sent.
	errSwitchedUnsent = errors.New("the upstream switched protocols on this connection")
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
// timeout between reads (the client's own read deadline would cut long streams) and
// lets a drain close every connection of a color at once.
type upConn struct {
	net.Conn
	set     *connSet
	idle    time.Duration
	lastSet time.Time // last read deadline refresh; used by one request at a time
	lastUse time.Time // last read or write
	killed  atomic.Bool
	// head holds the first bytes of the response to the last request written, until
	// there are enough to see its status code; switched is set when that was 101.
	head     [12]byte
	headN    int
	headDone bool
	switched bool
	peerEOF  atomic.Bool // the upstream closed its side: whatever was being read ends here
}

func (c *upConn) Read(p []byte) (int, error) {
	if c.killed.Load() {
		return 0, errCut
	}
	now := time.Now()
	if now.Sub(c.lastSet) > c.idle/8 {
		_ = c.Conn.SetReadDeadline(now.Add(c.idle))
		c.lastSet = now
	}
	c.lastUse = now
	n, err := c.Conn.Read(p)
	if !c.headDone && n > 0 {
		c.watchHead(p[:n])
	}
	if err == io.EOF {
		c.peerEOF.Store(true)
	}
	if err != nil && c.killed.Load() {
		err = errCut
	}
	return n, err
}

// watchHead looks at the status line of each response: after a 101 the upstream no
// longer speaks HTTP on this connection, so it must never carry another request.
func (c *upConn) watchHead(p []byte) {
	c.headN += copy(c.head[c.headN:], p)
	if c.headN < len(c.head) {
		return
	}
	c.headDone = true
	if string(c.head[:7]) == "HTTP/1." && string(c.head[8:]) == " 101" {
		c.switched = true
	}
}

func (c *upConn) Write(p []byte) (int, error) {
	if c.killed.Load() {
		return 0, errKilledUnsent
	}
	if c.switched {
		return 0, errSwitchedUnsent
	}
	c.headN, c.headDone = 0, false
	now := time.Now()
	if !c.lastUse.IsZero() && now.Sub(c.lastUse) > staleCheckAfter && c.peerClosed() {
		c.set.staleFound()
		return 0, errStaleUnsent
	}
	c.lastUse = now
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

// peerEnded reports whether the tracked connection whose local address is laddr read
// the upstream's end of stream. A chunked body whose stream ends that way was cut: a
// complete one ends with its last chunk, which leaves the connection open.
func (s *connSet) peerEnded(laddr net.Addr) bool {
	c, ok := s.conns.Find(func(c *upConn) bool { return c.Conn.LocalAddr() == laddr })
	return ok && c.peerEOF.Load()
}

// killAll closes every tracked connection; requests on them fail with errCut.
func (s *connSet) killAll() int {
	list := s.conns.List()
	for _, c := range list {
		c.killed.Store(true)
		_ = c.Conn.Close()
	}
	return len(list)
}
