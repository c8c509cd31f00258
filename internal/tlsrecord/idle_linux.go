package tlsrecord

import "syscall"

// idleWait is how an idle reader waits on Linux: in the netpoller, after a
// non-blocking MSG_PEEK recv found nothing to read. Only then is the connection idle,
// and the read AEAD is dropped (rebuilt from its key when the next record arrives); a
// connection whose records come back to back never pays the rebuild. Race-free: the
// runtime resets readiness before calling peek again after a wake-up.
type idleWait struct {
	rc   syscall.RawConn
	peek func(fd uintptr) bool // bound once: waiting allocates nothing
	in   *direction
	one  [1]byte
}

func (w *idleWait) init(c *Conn) {
	rc, err := c.tcp.SyscallConn()
	if err != nil {
		return // wait() then falls through to the blocking read, keeping the AEAD
	}
	w.rc, w.in = rc, &c.in
	w.peek = w.peekFD
}

// wait returns when the socket has something to read (or an error to report).
func (w *idleWait) wait() error {
	if w.rc == nil {
		return nil
	}
	return w.rc.Read(w.peek)
}

func (w *idleWait) peekFD(fd uintptr) bool {
	for {
		_, _, err := syscall.Recvfrom(int(fd), w.one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			w.in.drop()
			return false
		}
		return true // data, EOF or an error: the read that follows reports it
	}
}
