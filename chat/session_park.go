package chat

import (
	"net"
	"syscall"

	"github.com/edge-server/edge/internal/tlsrecord"
)

// Idle parking: between the frames a member sends, a detached connection (plain TCP,
// or TLS 1.3 on edge's own record layer) has no reader goroutine. The reader hands
// the socket to the hub's idle poller (internal/idlepoll) and exits; when the socket
// becomes readable the poller starts a new reader, which reads the frame as before.
// A connection that only listens then costs no goroutine stack: 2 KiB, plus as much
// again in GC headroom, because stacks count towards the GC goal.
//
// Who may find a session parked: whoever starts its closing handshake (closeLocked)
// or kills it. Both hold s.mu and call unparkLocked, which resumes the reader so that
// it sees the close (the peer's answer, the close grace deadline, the closed socket);
// the socket is closed only after it was unparked, so its descriptor number is never
// reused while the poller watches it.

type idler interface{ Idle() bool }

// initPark makes a detached session parkable when the hub has an idle poller.
func (s *session) initPark(conn net.Conn) {
	if s.h.idle == nil {
		return
	}
	var rc syscall.RawConn
	var err error
	switch c := conn.(type) {
	case *net.TCPConn:
		rc, err = c.SyscallConn()
	case *tlsrecord.Conn:
		rc, err = c.SyscallConn()
	default:
		return // crypto/tls buffers records of its own: keep the blocked reader
	}
	if err != nil {
		return
	}
	if err := rc.Control(func(fd uintptr) { s.parkFD = int(fd) }); err != nil {
		return
	}
	s.canPark = true
	s.wake = s.resume // bound once: parking allocates nothing
}

// parkIdle parks the session if nothing is buffered for its reader; the reader then
// returns without cleaning up. Reader goroutine only.
func (s *session) parkIdle() bool {
	if !s.canPark || len(s.prefix) > 0 || s.ahead != nil {
		return false
	}
	if c, ok := s.conn.(idler); ok && !c.Idle() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.dead {
		return false // the reader must see the close through: keep it
	}
	if err := s.h.idle.Park(s.parkFD, s.wake); err != nil {
		return false
	}
	s.parked = true
	if r, ok := s.conn.(writeKeyReleaser); ok && !s.writing && len(s.queue) == 0 {
		// A member that has gone quiet keeps no AES-GCM state for either direction;
		// a frame written to it rebuilds its write key (0.6 µs and 1.3 KB of garbage on
		// this box), at most once per frame the member sent.
		r.ReleaseWriteKey()
	}
	return true
}

type writeKeyReleaser interface{ ReleaseWriteKey() }

// resume is the poller's wake-up: the socket is readable (or hung up).
func (s *session) resume() {
	s.mu.Lock()
	s.parked = false
	s.mu.Unlock()
	s.runReader(true)
}

// unparkLocked resumes a parked reader at once; s.mu is held. If the poller has just
// woken it, its own wake-up resumes it instead.
func (s *session) unparkLocked() {
	if s.parked && s.h.idle.Unpark(s.parkFD) {
		s.parked = false
		go s.runReader(true) // closing: it will not park again
	}
}
