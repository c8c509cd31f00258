package contentcoding

import (
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	brrr "github.com/molecule-man/go-brrr"
)

// Levels for compressing responses as they pass through. They favour CPU over the
// last few percent of size, since every response pays them again (nginx's
// gzip_comp_level defaults to 1, Caddy's encode to gzip 5 and zstd "default").
const (
	GzipLevel   = 5
	BrotliLevel = 4
	ZstdLevel   = zstd.SpeedDefault
)

// Writer compresses what is written to it into the destination it was acquired for.
// Flush emits everything written so far as decodable output (a sync flush), so a
// stream stays live; Close ends the coded stream.
type Writer interface {
	io.Writer
	Flush() error
	Close() error
}

// pooled is a Writer that goes back to its pool on Release.
type pooled struct {
	Writer
	c Coding
}

var pools [NumCodings]sync.Pool

func init() {
	pools[Gzip].New = func() any {
		w, _ := gzip.NewWriterLevel(io.Discard, GzipLevel)
		return &pooled{Writer: w, c: Gzip}
	}
	pools[Brotli].New = func() any {
		w, _ := brrr.NewWriter(io.Discard, BrotliLevel)
		return &pooled{Writer: w, c: Brotli}
	}
	pools[Zstd].New = func() any {
		// One goroutine per encoder and the smaller window keep a pooled encoder
		// at about 1 MiB instead of 8+ MiB per core.
		w, _ := zstd.NewWriter(io.Discard, zstd.WithEncoderLevel(ZstdLevel),
			zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1<<20))
		return &pooled{Writer: w, c: Zstd}
	}
}

// NewWriter returns a pooled encoder for c writing to dst. Call Release when done
// (after Close, or instead of it when the output is abandoned). c must not be Identity.
func NewWriter(c Coding, dst io.Writer) Writer {
	p := pools[c].Get().(*pooled)
	switch w := p.Writer.(type) {
	case *gzip.Writer:
		w.Reset(dst)
	case *brrr.Writer:
		w.Reset(dst)
	case *zstd.Encoder:
		w.Reset(dst)
	}
	return p
}

// Release returns w to its pool. w must not be used afterwards.
func Release(w Writer) {
	p, ok := w.(*pooled)
	if !ok {
		return
	}
	// Detach from the destination so the pool does not keep it alive.
	switch e := p.Writer.(type) {
	case *gzip.Writer:
		e.Reset(io.Discard)
	case *brrr.Writer:
		e.Reset(io.Discard)
	case *zstd.Encoder:
		e.Reset(io.Discard)
	}
	pools[p.c].Put(p)
}
