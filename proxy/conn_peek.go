//go:build unix

package proxy

import (
	"errors"
	"syscall"
	"time"
)

// peerClosed reports whether the upstream closed (or wrote out of turn on) this idle
// connection, without blocking and without consuming anything: a non-blocking
// MSG_PEEK sees the FIN the kernel already received.
func (c *upConn) peerClosed() bool {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	// An expired read deadline would make the raw read fail before peeking.
	_ = c.Conn.SetReadDeadline(time.Time{})
	c.lastRead = time.Time{}
	closed := false
	_ = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0: // an HTTP upstream has nothing to say between requests
			closed = true
		case err == nil: // n == 0: end of stream
			closed = true
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		default:
			closed = true
		}
		return true
	})
	return closed
}
