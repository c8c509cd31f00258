package chat

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/edge-server/edge/internal/tlsrecord"
)

// Direct writes: on a plain TCP connection with no writer goroutine, queued frames are
// written at once with one non-blocking write(2) or writev(2) from the goroutine that
// queues them (for room messages: the deliverer, see cork.go). Only what the socket does
// not take at once (a full send buffer: a slow or stalled peer) is left for a writer
// goroutine, which writes it with a deadline as before. For a fan-out to 10k idle members
// this saves, per recipient, a goroutine start and exit, a write deadline (a timer) and
// a netpoller round; the bytes and their order are unchanged.

// directWriter holds a connection's raw descriptor access. Its fields are guarded by
// the session's mu; write is a method value bound once, so a write allocates nothing.
type directWriter struct {
	rc    syscall.RawConn
	write func(fd uintptr) bool
	bufs  [][]byte
	one   [1][]byte
	n     int
	tls   *tlsrecord.Conn // TLS 1.3 on edge's record layer: frames go out as one record
}

// initDirect enables direct writes when conn is a plain TCP connection owned by the
// chat, or TLS 1.3 on tlsrecord: there a direct write seals what is queued as one record
// on the queueing goroutine (tlsrecord.Conn.TryWrite); a record the socket does not take
// whole stays pending in the Conn and the writer goroutine flushes it (flushDue).
func (s *session) initDirect(conn net.Conn) {
	if tc, ok := conn.(*tlsrecord.Conn); ok {
		s.direct = &directWriter{tls: tc}
		return
	}
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
		var n int
		var err error
		if len(d.bufs) == 1 {
			n, err = syscall.Write(int(fd), d.bufs[0])
		} else {
			n, err = unix.Writev(int(fd), d.bufs)
		}
		if err == syscall.EINTR {
			continue
		}
		d.n = max(n, 0)
		return true // never wait: what is left goes to the writer goroutine
	}
}

// writeOneLocked writes as much of frame as the socket takes without blocking and
// returns how many bytes that was; s.mu is held, the queue is empty and no writer runs.
func (s *session) writeOneLocked(frame []byte) int {
	d := s.direct
	if d.tls != nil {
		d.one[0] = frame
		ok := s.tryWriteTLSLocked(d.one[:])
		d.one[0] = nil
		if !ok {
			return 0
		}
		return len(frame)
	}
	d.one[0] = frame
	d.bufs, d.n = d.one[:], 0
	_ = d.rc.Write(d.write)
	d.bufs, d.one[0] = nil, nil
	return d.n
}

// writeDirectLocked writes as much of the queue as the socket takes without blocking
// and keeps the rest queued; s.mu is held and no writer runs. It reports whether the
// queue is now empty. Errors are not handled here: the writer goroutine meets them on
// the rest.
func (s *session) writeDirectLocked() bool {
	d := s.direct
	if d.tls != nil {
		if !s.tryWriteTLSLocked(s.queue) {
			return false
		}
		clear(s.queue)
		s.queue, s.qbytes = nil, 0
		return !s.flushDue // a pending record: the caller starts the writer to flush it
	}
	d.bufs, d.n = s.queue, 0
	_ = d.rc.Write(d.write)
	d.bufs = nil
	n := d.n
	s.qbytes -= n
	i := 0
	for i < len(s.queue) && n >= len(s.queue[i]) {
		n -= len(s.queue[i])
		s.queue[i] = nil
		i++
	}
	if i == len(s.queue) {
		s.queue, s.qbytes = nil, 0 // an idle connection holds no queue
		s.headPartial = false
		return true
	}
	s.queue = s.queue[i:]
	if n > 0 {
		s.queue[0] = s.queue[0][n:]
		s.headPartial = true // the peer has part of this frame: never drop the rest
	} else if i > 0 {
		s.headPartial = false
	}
	return false
}

// tryWriteTLSLocked hands bufs to the record layer at once if it takes them; s.mu is
// held. A record left pending sets flushDue.
func (s *session) tryWriteTLSLocked(bufs [][]byte) bool {
	ok, pending := s.direct.tls.TryWrite(bufs)
	if pending {
		s.flushDue = true
	}
	return ok
}

// flushPending writes a record TryWrite left pending (writer goroutine, with the write
// deadline set).
func (s *session) flushPending() error {
	if d := s.direct; d != nil && d.tls != nil {
		return d.tls.Flush()
	}
	return nil
}
