//go:build linux

package static

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendFile writes the response header buffered in bw, then n bytes of file src from off,
// to c with sendfile(2): the body goes from the page cache to the socket without a copy
// through user space. The header is sent with MSG_MORE, so the kernel holds it until
// sendfile appends the body and header and body leave in full segments — what nginx's
// "tcp_nopush on" does with two TCP_CORK calls, in two system calls instead of four.
// The offset is passed to each call, so every response shares src and none needs an
// lseek. The connection's write deadline bounds each wait for the socket to drain.
// handled is false when c offers no raw descriptor; nothing was written then.
func sendFile(bw *bufio.Writer, c *net.TCPConn, op *sendFileOp) (written int64, handled bool, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	start := op.off
	if hdr := bufferedBytes(bw); hdr != nil {
		// Sent from here, header first; whatever happens, the buffered copy must go.
		op.hdr = hdr
		defer func() { op.hdr = nil; bw.Reset(c) }()
	} else if bw.Buffered() > 0 {
		// No view of the buffered bytes: cork, flush, sendfile, uncork.
		_ = rc.Control(corkOn)
		defer func() { _ = rc.Control(corkOff) }() // always: a corked tail would wait 200 ms
		if err := bw.Flush(); err != nil {
			return 0, true, err
		}
	}
	if err := rc.Write(op.stepFn); err != nil {
		return op.off - start, true, err
	}
	return op.off - start, true, op.err
}

// bufferedBytes returns the bytes bw holds, nil when it holds none or has no room left
// (then its spare capacity does not locate them). A bufio.Writer's buffered bytes are
// its buffer's first Buffered() bytes, and AvailableBuffer is the slice right after
// them; TestBufferedBytes pins this.
func bufferedBytes(bw *bufio.Writer) []byte {
	n := bw.Buffered()
	if n == 0 || bw.Available() == 0 {
		return nil
	}
	tail := bw.AvailableBuffer()
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(tail)), -n)), n)
}

// sendFileOp is one body on its way: first the header (with MSG_MORE), then the file.
// It lives in the pooled staticStream, and stepFn is bound once, so a response
// allocates nothing for it.
type sendFileOp struct {
	hdr       []byte
	src       int
	off, left int64
	err       error
	stepFn    func(uintptr) bool
}

// step is one round of system calls on the socket descriptor dst; false means the
// socket is full: wait until it is writable (or the write deadline passes).
func (o *sendFileOp) step(dst uintptr) bool {
	for len(o.hdr) > 0 {
		p := unsafe.Pointer(unsafe.SliceData(o.hdr))
		m, _, e := unix.Syscall6(unix.SYS_SENDTO, dst, uintptr(p), uintptr(len(o.hdr)), unix.MSG_MORE|unix.MSG_NOSIGNAL, 0, 0)
		switch {
		case e == unix.EAGAIN:
			return false
		case e == unix.EINTR:
		case e != 0:
			o.err = fmt.Errorf("sending the response header: %w", e)
			return true
		default:
			o.hdr = o.hdr[m:]
		}
	}
	for o.left > 0 {
		off := o.off
		m, err := syscall.Sendfile(int(dst), o.src, &off, int(min(o.left, 1<<30)))
		if m > 0 {
			o.off += int64(m)
			o.left -= int64(m)
		}
		switch {
		case err == syscall.EAGAIN:
			return false
		case err == syscall.EINTR:
		case err != nil:
			o.err = fmt.Errorf("sendfile: %w", err)
			return true
		case m == 0:
			o.err = io.ErrUnexpectedEOF // the file shrank under us
			return true
		}
	}
	return true
}

func corkOn(fd uintptr) {
	_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, 1)
}

func corkOff(fd uintptr) {
	_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, 0)
}

// snapshotFile copies data into a sealed memfd: an in-memory file nobody can change,
// so sendfile serves exactly the version the entry's ETag names, whatever happens to
// the file on disk meanwhile (rewritten in place, truncated). mem maps the same pages
// read-only, for connections that cannot use sendfile (TLS); unmapSnapshot releases it.
func snapshotFile(name string, data []byte) (f *os.File, mem []byte, err error) {
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("snapshotting %s: empty file", name)
	}
	fd, err := unix.MemfdCreate("edge-static", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, nil, fmt.Errorf("snapshotting %s: memfd_create: %w", name, err)
	}
	f = os.NewFile(uintptr(fd), "memfd:"+name)
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("snapshotting %s: %w", name, err)
	}
	// Sealed before mapping: F_SEAL_WRITE refuses while a writable mapping exists, and a
	// sealed size means the mapping can never fault past the end (SIGBUS).
	const seals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_SEAL
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("snapshotting %s: sealing: %w", name, err)
	}
	mem, err = unix.Mmap(fd, 0, len(data), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("snapshotting %s: mmap: %w", name, err)
	}
	return f, mem, nil
}

func unmapSnapshot(mem []byte) { _ = unix.Munmap(mem) }
