package static

import (
	"bufio"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
)

// staticRep is one representation of a resource: the file itself, a precompressed
// sibling, or an on-the-fly compressed copy. It is immutable once built.
type staticRep struct {
	data     []byte    // whole content when inMemory (never modified: sent with SetBodyRaw)
	inMemory bool      // else streamed from file
	file     *openFile // fd pool when !inMemory
	size     int64
	etag     []byte // quoted strong ETag
	encoding encoding
}

// maxIdleFDs bounds the pooled descriptors kept per streamed file.
const maxIdleFDs = 8

var errRetired = errors.New("file version was replaced while being served")

// openFile keeps one version of a big file open. The anchor descriptor pins the exact
// inode the entry's size and ETag describe; each concurrent stream gets its own
// descriptor (own file offset, so sendfile can use it) reopened from the anchor and
// checked with os.SameFile, and returned to a small idle pool afterwards.
type openFile struct {
	path string
	info os.FileInfo

	mu      sync.Mutex
	anchor  *os.File
	anchorN uintptr
	idle    []*os.File
	inUse   int
	retired bool
}

func newOpenFile(path string, info os.FileInfo, f *os.File) *openFile {
	return &openFile{path: path, info: info, anchor: f, anchorN: f.Fd()}
}

// acquire returns a descriptor of its own (nil: read through the shared anchor with
// pread) and the anchor, which stays open until the matching release.
func (o *openFile) acquire() (own, anchor *os.File, err error) {
	o.mu.Lock()
	if o.anchor == nil {
		o.mu.Unlock()
		return nil, nil, errRetired
	}
	o.inUse++
	anchor = o.anchor
	if n := len(o.idle); n > 0 {
		own = o.idle[n-1]
		o.idle = o.idle[:n-1]
		o.mu.Unlock()
		return own, anchor, nil
	}
	o.mu.Unlock()
	return o.reopen(), anchor, nil
}

// reopen opens a fresh descriptor of the anchored inode, or returns nil.
func (o *openFile) reopen() *os.File {
	for _, name := range [2]string{"/proc/self/fd/" + strconv.FormatUint(uint64(o.anchorN), 10), o.path} {
		f, err := openStaticFile(name)
		if err != nil {
			continue
		}
		if fi, err := f.Stat(); err == nil && os.SameFile(fi, o.info) {
			return f
		}
		_ = f.Close()
	}
	return nil
}

// release gives back what acquire returned.
func (o *openFile) release(own *os.File) {
	o.mu.Lock()
	o.inUse--
	if own != nil {
		if o.retired || len(o.idle) >= maxIdleFDs {
			_ = own.Close()
		} else {
			o.idle = append(o.idle, own)
		}
	}
	o.closeAnchorLocked()
	o.mu.Unlock()
}

// retire closes the descriptors now or, for those in use, when they come back.
func (o *openFile) retire() {
	o.mu.Lock()
	o.retired = true
	for _, f := range o.idle {
		_ = f.Close()
	}
	o.idle = nil
	o.closeAnchorLocked()
	o.mu.Unlock()
}

func (o *openFile) closeAnchorLocked() {
	if o.retired && o.inUse == 0 && o.anchor != nil {
		_ = o.anchor.Close()
		o.anchor = nil
	}
}

// readAt reads from the anchored inode for short-lived internal use (sniffing,
// compression); it holds the anchor open while reading.
func (o *openFile) readAt(p []byte, off int64) (int, error) {
	_, anchor, err := o.acquireAnchorOnly()
	if err != nil {
		return 0, err
	}
	defer o.release(nil)
	return anchor.ReadAt(p, off)
}

func (o *openFile) acquireAnchorOnly() (*os.File, *os.File, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.anchor == nil {
		return nil, nil, errRetired
	}
	o.inUse++
	return nil, o.anchor, nil
}

// staticStream is the response body stream of a big file. With its own descriptor it
// hands an *io.LimitedReader over the *os.File to the connection's ReadFrom, which is
// sendfile(2) on a plain TCP connection; otherwise it preads from the anchor.
type staticStream struct {
	file   *openFile
	own    *os.File
	anchor *os.File
	lr     io.LimitedReader
	off    int64
	left   int64
}

var staticStreamPool = sync.Pool{New: func() any { return new(staticStream) }}

// newStaticStream returns a stream of length bytes from offset start.
func newStaticStream(o *openFile, start, length int64) (*staticStream, error) {
	own, anchor, err := o.acquire()
	if err != nil {
		return nil, err
	}
	if own != nil {
		if _, err := own.Seek(start, io.SeekStart); err != nil {
			_ = own.Close()
			own = nil
		}
	}
	s := staticStreamPool.Get().(*staticStream)
	*s = staticStream{file: o, own: own, anchor: anchor, off: start, left: length}
	if own != nil {
		s.lr = io.LimitedReader{R: own, N: length}
	}
	return s, nil
}

func (s *staticStream) Read(p []byte) (int, error) {
	if s.own != nil {
		return s.lr.Read(p)
	}
	if s.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.anchor.ReadAt(p, s.off)
	s.off += int64(n)
	s.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the file shrank under us
	}
	return n, err
}

// WriteTo is what fasthttp calls to send the body. Flushing the buffered response
// header first lets bufio.Writer pass the file straight to the socket's ReadFrom.
func (s *staticStream) WriteTo(w io.Writer) (int64, error) {
	if s.own != nil {
		if bw, ok := w.(*bufio.Writer); ok && bw.Buffered() > 0 {
			if err := bw.Flush(); err != nil {
				return 0, err
			}
		}
		if rf, ok := w.(io.ReaderFrom); ok {
			return rf.ReadFrom(&s.lr)
		}
	}
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	return io.CopyBuffer(writerOnly{w}, readerOnly{s}, *bp)
}

// Close returns the descriptor; fasthttp calls it once the body is written.
func (s *staticStream) Close() error {
	if s.file != nil {
		s.file.release(s.own)
	}
	*s = staticStream{}
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
