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

// nonBlocking is the socket's raw access for writes that never wait, bound once so that
// a write allocates nothing (a fan-out makes one per member). Guarded by wmu.
type nonBlocking struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool
	b   []byte
	n   int
	err error
}

func (w *nonBlocking) init(c *Conn) {
	rc, err := c.tcp.SyscallConn()
	if err != nil {
		return // writeNonBlocking reports it
	}
	w.rc = rc
	w.fn = w.writeFD
}

func (w *nonBlocking) writeFD(fd uintptr) bool {
	for {
		w.n, w.err = syscall.Write(int(fd), w.b)
		if w.err != syscall.EINTR {
			break
		}
	}
	if w.err == syscall.EAGAIN {
		w.n, w.err = 0, nil
	}
	return true // never wait
}

// writeNonBlocking makes one write(2) of b that never waits: 0 when the socket's send
// buffer is full. c.wmu is held.
func (c *Conn) writeNonBlocking(b []byte) (int, error) {
	w := &c.nb
	if w.rc == nil {
		return 0, errClosed
	}
	w.b = b
	err := w.rc.Write(w.fn)
	n, werr := max(w.n, 0), w.err
	w.b, w.n, w.err = nil, 0, nil
	if err != nil {
		return 0, err
	}
	return n, werr
}

// writeNow writes b with one non-blocking write(2); whatever the socket does not take
// at once is dropped (a last alert before the connection ends). c.wmu is held.
func (c *Conn) writeNow(b []byte) { _, _ = c.writeNonBlocking(b) }
