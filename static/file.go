package static

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
)

// staticRep is one representation of a resource: the file itself, a precompressed
// sibling, or an on-the-fly compressed copy. It is immutable once built.
type staticRep struct {
	data     []byte    // whole content when inMemory (never modified: sent with SetBodyRaw)
	inMemory bool      // else streamed from file
	file     *openFile // when !inMemory: the file on disk, or its sealed snapshot
	size     int64
	etag     []byte // quoted strong ETag
	encoding encoding
}

var errRetired = errors.New("file version was replaced while being served")

// openFile keeps one version of a file open: the descriptor pins the exact inode (or
// the sealed in-memory snapshot) the entry's size and ETag describe. Responses read it
// at their own offsets (pread, sendfile with an offset), so all of them share it; it is
// closed once the entry is retired and the last response using it is done.
type openFile struct {
	fd    int    // f's descriptor, for sendfile
	mem   []byte // a snapshot's read-only mapping (nil for a file on disk)
	unmap runtime.Cleanup

	mu      sync.Mutex
	f       *os.File
	inUse   int
	retired bool
}

func newOpenFile(f *os.File, mem []byte) *openFile {
	o := &openFile{f: f, fd: int(f.Fd()), mem: mem}
	if mem != nil {
		// A reload drops the whole handler without retiring its entries: the *os.File's
		// own cleanup closes the descriptor, this one releases the mapping.
		o.unmap = runtime.AddCleanup(o, unmapSnapshot, mem)
	}
	return o
}

// acquire returns the descriptor, which stays open until the matching release.
func (o *openFile) acquire() (*os.File, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return nil, errRetired
	}
	o.inUse++
	return o.f, nil
}

// release gives back what acquire returned.
func (o *openFile) release() {
	o.mu.Lock()
	o.inUse--
	o.closeLocked()
	o.mu.Unlock()
}

// retire closes the descriptor now or, when responses use it, after the last one.
func (o *openFile) retire() {
	o.mu.Lock()
	o.retired = true
	o.closeLocked()
	o.mu.Unlock()
}

func (o *openFile) closeLocked() {
	if o.retired && o.inUse == 0 && o.f != nil {
		_ = o.f.Close()
		o.f = nil
		if o.mem != nil {
			o.unmap.Stop()
			unmapSnapshot(o.mem)
			o.mem = nil
		}
	}
}

// readAt reads from the file for short-lived internal use (sniffing, compression).
// It does not read o.mem, which is unmapped once the file is closed.
func (o *openFile) readAt(p []byte, off int64) (int, error) {
	f, err := o.acquire()
	if err != nil {
		return 0, err
	}
	defer o.release()
	return f.ReadAt(p, off)
}

// staticStream is the response body of a file not held in a Go slice. On a plain TCP
// connection its WriteTo sends the buffered response header and the body with
// sendfile(2) from the shared descriptor (sendFile); otherwise it writes a snapshot
// from its mapping and a file on disk through a pooled buffer (pread).
type staticStream struct {
	file *openFile
	f    *os.File
	conn *net.TCPConn // nil: no sendfile (TLS, or a wrapped connection)
	op   sendFileOp   // the part still to send: op.off, op.left
}

var staticStreamPool = sync.Pool{New: func() any {
	s := new(staticStream)
	s.op.stepFn = s.op.step
	return s
}}

// newStaticStream returns a stream of length bytes from offset start, sent with
// sendfile when conn is a plain TCP connection.
func newStaticStream(o *openFile, start, length int64, conn net.Conn) (*staticStream, error) {
	f, err := o.acquire()
	if err != nil {
		return nil, err
	}
	s := staticStreamPool.Get().(*staticStream)
	s.file, s.f = o, f
	s.conn, _ = conn.(*net.TCPConn)
	s.op.src, s.op.off, s.op.left, s.op.err = o.fd, start, length, nil
	return s, nil
}

func (s *staticStream) Read(p []byte) (int, error) {
	if s.op.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.op.left {
		p = p[:s.op.left]
	}
	n, err := s.f.ReadAt(p, s.op.off)
	s.op.off += int64(n)
	s.op.left -= int64(n)
	if n == len(p) {
		return n, nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the file shrank under us
	}
	return n, err
}

// WriteTo is what fasthttp calls to send the body, with w the connection's buffered
// writer holding the response header.
func (s *staticStream) WriteTo(w io.Writer) (int64, error) {
	if bw, ok := w.(*bufio.Writer); ok && s.conn != nil {
		if n, handled, err := sendFile(bw, s.conn, &s.op); handled {
			return n, err
		}
	}
	if mem := s.file.mem; mem != nil {
		// A snapshot on a connection without sendfile: write from its mapping, as a body
		// held in a slice would be (the stream keeps the mapping until Close).
		n, err := w.Write(mem[s.op.off : s.op.off+s.op.left])
		s.op.off += int64(n)
		s.op.left -= int64(n)
		return int64(n), err
	}
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	return io.CopyBuffer(writerOnly{w}, readerOnly{s}, *bp)
}

// Close returns the descriptor; fasthttp calls it once the body is written.
func (s *staticStream) Close() error {
	if s.file != nil {
		s.file.release()
	}
	s.file, s.f, s.conn = nil, nil, nil
	s.op.err = nil
	staticStreamPool.Put(s)
	return nil
}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// readerOnly and writerOnly hide WriterTo/ReaderFrom so io.CopyBuffer uses the buffer
// instead of recursing into WriteTo.
type readerOnly struct{ r io.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }

type writerOnly struct{ w io.Writer }

func (w writerOnly) Write(p []byte) (int, error) { return w.w.Write(p) }
