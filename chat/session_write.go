package chat

import (
	"net"
	"time"
)

// The outgoing side of a session: a bounded queue of ready-made frames and a writer
// goroutine that exists only while the queue is not empty.

func (s *session) enqueue(frame []byte) {
	s.mu.Lock()
	s.enqueueLocked(frame)
	s.mu.Unlock()
}

// enqueueLocked queues a frame; s.mu is held. A connection whose queue overflows is a
// slow consumer: its queue is replaced by a 1013 close frame (it resumes with "after").
func (s *session) enqueueLocked(frame []byte) {
	if s.closing || s.dead {
		return
	}
	cfg := &s.h.cfg
	if len(s.queue) >= cfg.SendQueueFrames || s.qbytes+len(frame) > cfg.SendQueueBytes {
		s.h.metrics.SlowConsumer()
		s.dropQueueLocked()
		s.closeLocked(CloseTryAgain, "slow consumer")
		return
	}
	s.push(frame)
}

func (s *session) push(frame []byte) {
	direct := s.direct != nil && !s.writing && !s.closeQueued
	if direct && !s.corked && len(s.queue) == 0 {
		n := s.writeOneLocked(frame)
		if n == len(frame) {
			if s.flushDue {
				s.startWriterLocked() // TLS: the record is pending in the Conn
			}
			return
		}
		frame = frame[n:]
		s.headPartial = n > 0 // the peer has part of this frame: never drop the rest
	}
	s.queue = append(s.queue, frame)
	s.qbytes += len(frame)
	if s.writing || direct && s.corked {
		return // a writer runs, or the deliverer writes it on release (cork.go)
	}
	s.startWriterLocked()
}

// startWriterLocked starts the writer goroutine for what is queued; s.mu is held.
func (s *session) startWriterLocked() {
	s.writing = true
	s.flushed = nil
	if !s.detached { // only then does anyone wait for the writer
		s.flushed = make(chan struct{})
	}
	go s.flush(s.flushed)
}

// dropQueueLocked empties the queue, except the rest of a frame a direct write began:
// dropping that would corrupt the stream for the close frame that follows.
func (s *session) dropQueueLocked() {
	if s.headPartial && len(s.queue) > 0 {
		s.queue, s.qbytes = s.queue[:1], len(s.queue[0])
		return
	}
	s.queue, s.qbytes = nil, 0
}

// waitWriter returns once no writer goroutine is running (bounded by WriteTimeout). A
// connection still owned by fasthttp's hijack handler must not be used after it returns.
func (s *session) waitWriter() {
	s.mu.Lock()
	ch := s.flushed
	writing := s.writing
	s.mu.Unlock()
	if writing && ch != nil {
		<-ch
	}
}

// closeWith starts the closing handshake: queue a close frame and accept nothing more.
func (s *session) closeWith(code int, reason string) {
	s.mu.Lock()
	s.closeLocked(code, reason)
	s.mu.Unlock()
}

func (s *session) closeLocked(code int, reason string) {
	if s.closing || s.dead {
		return
	}
	s.closing = true
	s.closeQueued = true
	s.push(closeFrame(code, reason))
	s.unparkLocked() // the reader waits for the peer's close, with the grace deadline
}

// kill drops the connection at once (missed pongs, write timeouts, forced shutdown).
// The socket is reset rather than closed: whatever the kernel still holds for a peer
// that does not read is discarded instead of lingering in an orphaned socket.
func (s *session) kill() {
	s.mu.Lock()
	s.dead, s.closing = true, true
	s.queue, s.qbytes = nil, 0
	s.unparkLocked() // before the close: the poller must not watch a reused number
	s.mu.Unlock()
	if l, ok := s.raw.(interface{ SetLinger(int) error }); ok { // *net.TCPConn, *tlsrecord.Conn
		_ = l.SetLinger(0)
	}
	_ = s.raw.Close()
}

// flush writes queued frames until the queue is empty, then exits and closes done.
func (s *session) flush(done chan struct{}) {
	if done != nil {
		defer close(done)
	}
	timeout := s.h.cfg.WriteTimeout
	for {
		s.mu.Lock()
		if s.flushDue {
			s.flushDue = false
			s.mu.Unlock()
			_ = s.conn.SetWriteDeadline(time.Now().Add(timeout))
			if err := s.flushPending(); err != nil {
				s.kill()
				s.mu.Lock()
				s.writing = false
				s.mu.Unlock()
				return
			}
			continue
		}
		if len(s.queue) == 0 {
			s.writing = false
			closeNow := s.closeOnIdle
			s.mu.Unlock()
			if closeNow {
				_ = s.raw.Close()
			}
			return
		}
		bufs := net.Buffers(s.queue)
		wroteClose := s.closeQueued
		s.closeQueued, s.headPartial = false, false
		s.queue, s.qbytes = nil, 0
		s.mu.Unlock()

		_ = s.conn.SetWriteDeadline(time.Now().Add(timeout))
		if _, err := bufs.WriteTo(s.conn); err != nil {
			s.kill()
			s.mu.Lock()
			s.writing = false
			s.mu.Unlock()
			return
		}
		if wroteClose {
			// The peer has closeGrace to answer our close frame; then the reader gives up.
			_ = s.conn.SetReadDeadline(time.Now().Add(closeGrace))
		}
	}
}
