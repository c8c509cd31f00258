//go:build unix

package tlsrecord

import "syscall"

// TryWrite writes the concatenation of bufs now, if it can without waiting: as one
// record, sealed on the caller's goroutine, with one non-blocking write(2). It is for a
// caller that writes to many connections from one long-lived goroutine (the chat's
// deliverer): no writer goroutine, no write deadline, no hand-off to the sealing workers.
//
// It returns false, having taken nothing, when a Write is in progress, an earlier record
// is still pending, the connection failed, or the data does not fit one record. When it
// returns true the data is the connection's: on the wire, or sealed with the part the
// socket did not take held in c; then pending is true and the caller must call Flush
// (with a write deadline) before it may rely on the peer getting it. Write flushes it
// first too, so the stream stays in order whoever writes next.
func (c *Conn) TryWrite(bufs [][]byte) (ok, pending bool) {
	if !c.wmu.TryLock() {
		return false, false
	}
	defer c.wmu.Unlock()
	if c.werr != nil || c.pend != nil {
		return false, false
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	if total == 0 || total > maxPlaintext {
		return total == 0, false
	}
	plain := getBuf(total)
	p := (*plain)[:0]
	for _, b := range bufs {
		p = append(p, b...)
	}
	size := headerLen + total + 1 + tagLen
	if c.keyUpdate.Load() {
		size += headerLen + 5 + 1 + tagLen
	}
	out := getBuf(size)
	rec, err := c.sealLocked((*out)[:0], p)
	putBuf(plain)
	if err != nil {
		putBuf(out)
		c.werr = err
		return true, true // Flush reports it
	}
	n, err := c.writeNonBlocking(rec)
	switch {
	case err != nil:
		putBuf(out)
		c.werr = err
		return true, true
	case n == len(rec):
		putBuf(out)
		return true, false
	}
	c.pend, c.pendData = out, rec[n:]
	return true, true
}

// writeNonBlocking makes one write(2) of b that never waits: 0 when the socket's send
// buffer is full.
func (c *Conn) writeNonBlocking(b []byte) (int, error) {
	rc, err := c.tcp.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var werr error
	if err := rc.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), b)
			if werr != syscall.EINTR {
				break
			}
		}
		if werr == syscall.EAGAIN {
			n, werr = 0, nil
		}
		return true
	}); err != nil {
		return 0, err
	}
	return max(n, 0), werr
}
