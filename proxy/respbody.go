package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// How an upstream response body is delimited (RFC 9112 §6.3).
type bodyMode uint8

const (
	bodyNone       bodyMode = iota // HEAD, 1xx, 204, 304: the head is the whole answer
	bodyFixed                      // Content-Length
	bodyChunked                    // Transfer-Encoding: chunked
	bodyUntilClose                 // neither: the body ends when the upstream closes
)

// errBadChunk is a chunked body edge cannot follow: the connection is out of sync.
var errBadChunk = errors.New("malformed chunked encoding in the upstream response body")

// maxTrailerLines bounds the trailer section edge reads (and drops) after the last
// chunk; its bytes are bounded by the read buffer per line.
const maxTrailerLines = 64

// bodyReader reads one upstream response body from the connection's buffer and
// decodes chunks. It returns io.EOF only at the body's real end; an upstream that
// closes before it gets errBodyCut, so a truncated body is never taken for a whole
// one. Trailers are read and dropped (edge forwards no trailers).
type bodyReader struct {
	br      *bufio.Reader
	mode    bodyMode
	left    int64 // bodyFixed: bytes left; bodyChunked: bytes left of the current chunk
	inChunk bool  // bodyChunked: the current chunk's data (and its CRLF) is not consumed yet
	done    bool  // the body ended where its framing says
}

func (b *bodyReader) reset(br *bufio.Reader, mode bodyMode, size int64) {
	*b = bodyReader{br: br, mode: mode, done: mode == bodyNone || mode == bodyFixed && size == 0}
	if mode == bodyFixed {
		b.left = size
	}
}

// reusable reports whether the connection is at the start of the next response.
func (b *bodyReader) reusable() bool { return b.done && b.mode != bodyUntilClose }

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	switch b.mode {
	case bodyFixed:
		return b.readData(p)
	case bodyChunked:
		for b.left == 0 {
			if err := b.nextChunk(); err != nil {
				return 0, err
			}
			if b.done {
				return 0, io.EOF
			}
		}
		return b.readData(p)
	default: // bodyUntilClose
		n, err := b.br.Read(p)
		if err == io.EOF {
			b.done = true
		}
		return n, err
	}
}

// readData reads at most b.left bytes of body data.
func (b *bodyReader) readData(p []byte) (int, error) {
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	if b.left == 0 && b.mode == bodyFixed {
		b.done = true
		return n, nil
	}
	if err == io.EOF {
		err = errBodyCut
	}
	return n, err
}

// nextChunk consumes the CRLF ending the previous chunk and the next chunk-size
// line; at the last chunk it also consumes the trailer section and marks the end.
func (b *bodyReader) nextChunk() error {
	if b.inChunk {
		if err := b.chunkEnd(); err != nil {
			return err
		}
		b.inChunk = false
	}
	line, err := b.line()
	if err != nil {
		return err
	}
	size, err := parseChunkSize(line)
	if err != nil {
		return err
	}
	if size > 0 {
		b.left, b.inChunk = size, true
		return nil
	}
	for range maxTrailerLines {
		line, err := b.line()
		if err != nil {
			return err
		}
		if len(line) == 0 {
			b.done = true
			return nil
		}
	}
	return fmt.Errorf("%w: more than %d trailer lines", errBadChunk, maxTrailerLines)
}

// chunkEnd consumes the CRLF (or bare LF) after a chunk's data.
func (b *bodyReader) chunkEnd() error {
	c, err := b.br.ReadByte()
	if err == nil && c == '\r' {
		c, err = b.br.ReadByte()
	}
	switch {
	case err == io.EOF:
		return errBodyCut
	case err != nil:
		return err
	case c != '\n':
		return fmt.Errorf("%w: chunk data is longer than its size", errBadChunk)
	}
	return nil
}

// line reads one line without its CRLF or LF; a line that does not fit the buffer
// is an error.
func (b *bodyReader) line() ([]byte, error) {
	line, err := b.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, fmt.Errorf("%w: a chunk-size or trailer line over %d bytes", errBadChunk, b.br.Size())
	case err == io.EOF:
		return nil, errBodyCut
	case err != nil:
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// parseChunkSize reads a chunk-size line: hexadecimal digits, then optional
// whitespace and chunk extensions (ignored, RFC 9112 §7.1.1), nothing else.
func parseChunkSize(line []byte) (int64, error) {
	var size int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			goto rest
		}
		if i == 15 {
			return 0, fmt.Errorf("%w: chunk size %q is too large", errBadChunk, line)
		}
		size = size<<4 | int64(d)
	}
rest:
	if i == 0 {
		return 0, fmt.Errorf("%w: chunk-size line %q", errBadChunk, line)
	}
	for ; i < len(line) && (line[i] == ' ' || line[i] == '\t'); i++ {
	}
	if i < len(line) && line[i] != ';' {
		return 0, fmt.Errorf("%w: chunk-size line %q", errBadChunk, line)
	}
	for ; i < len(line); i++ {
		if c := line[i]; c < ' ' && c != '\t' || c == 0x7f {
			return 0, fmt.Errorf("%w: a control character in a chunk extension", errBadChunk)
		}
	}
	return size, nil
}
