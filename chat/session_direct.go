package chat

import (
	"net"
	"syscall"
)

// Direct writes: on a plain TCP connection whose queue is empty and that has no writer
// goroutine, a frame is written at once with one non-blocking write(2) from the
// goroutine that queues it (for a room message: the deliverer). Only what the socket
// does not take at once (a full send buffer: a slow or stalled peer) is queued for a
// writer goroutine, which writes it with a deadline as before. For a fan-out to 10k idle
// members this saves, per recipient, a goroutine start and exit, a write deadline (a
// timer) and a netpoller round; the frame bytes and their order are unchanged.

// directWriter holds a connection's raw descriptor access. Its fields are guarded by
// the session's mu; write is a method value bound once, so a write allocates nothing.
type directWriter struct {
	rc    syscall.RawConn
	write func(fd uintptr) bool
	buf   []byte
	n     int
}

// initDirect enables direct writes when conn is a plain TCP connection owned by the chat.
func (s *session) initDirect(conn net.Conn) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	d := &directWriter{rc: rc}
	d.write = d.writeFD
	s.direct = d
}

func (d *directWriter) writeFD(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), d.buf)
		if err == syscall.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		d.n = n
		return true // never wait: what is left goes to the writer goroutine
	}
}

// tryDirect writes as much of frame as the socket takes without blocking and returns
// the number of bytes written; s.mu is held, the queue is empty and no writer runs.
// Errors are not handled here: the writer goroutine meets them on the rest.
func (s *session) tryDirect(frame []byte) int {
	d := s.direct
	d.buf, d.n = frame, 0
	_ = d.rc.Write(d.write)
	d.buf = nil
	return d.n
}
