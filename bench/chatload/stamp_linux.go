package main

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// stampConn reads with recvmsg(2) and keeps the kernel's receive timestamp
// (SO_TIMESTAMPNS) of the last read: the time the bytes reached this socket, before
// this process got to them. With 10,000 receivers sharing one core, a frame can wait
// in its socket for a long time before its goroutine runs; the arrival time measures
// the server's fan-out, the read time measures the server plus this client.
type stampConn struct {
	*net.TCPConn
	rc   syscall.RawConn
	oob  [64]byte
	last int64 // CLOCK_REALTIME ns of the last read's first skb; 0: none
	// read is bound once, so a Read allocates nothing.
	read func(fd uintptr) bool
	p    []byte
	n    int
	err  error
}

// enableStamps is a net.Dialer Control function: the kernel stamps every skb.
func enableStamps(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return err
	}
	return serr
}

// newStampConn wraps a plain TCP connection; anything else is returned as it is.
func newStampConn(c net.Conn) (net.Conn, *stampConn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c, nil
	}
	s := &stampConn{TCPConn: tc, rc: rc}
	s.read = s.recv
	return s, s
}

func (s *stampConn) recv(fd uintptr) bool {
	n, oobn, _, _, err := syscall.Recvmsg(int(fd), s.p, s.oob[:], 0)
	if err == syscall.EAGAIN {
		return false
	}
	s.n, s.err = n, err
	if err == nil && oobn >= syscall.CmsgSpace(int(unsafe.Sizeof(syscall.Timespec{}))) {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&s.oob[0]))
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SO_TIMESTAMPNS {
			ts := (*syscall.Timespec)(unsafe.Pointer(&s.oob[syscall.CmsgLen(0)]))
			s.last = ts.Nano()
		}
	}
	return true
}

// Read is net.Conn's Read through recvmsg; the websocket library calls it from one
// goroutine at a time.
func (s *stampConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.p = p
	err := s.rc.Read(s.read)
	s.p = nil
	if err != nil {
		return 0, err // deadline or closed
	}
	if s.err != nil {
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: s.err}
	}
	if s.n == 0 {
		return 0, io.EOF
	}
	return s.n, nil
}

// arrived is the kernel receive time of the last read, 0 when unknown.
func (s *stampConn) arrived() int64 {
	if s == nil {
		return 0
	}
	return s.last
}
