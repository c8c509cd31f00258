package contentcoding

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	brrr "github.com/molecule-man/go-brrr"
)

// NewReader decodes a body sent with Content-Encoding name ("" or "identity" pass it
// through). Tests and `edge doctor` use it to check what edge sent.
func NewReader(name string, r io.Reader) (io.ReadCloser, error) {
	switch name {
	case "", "identity":
		return io.NopCloser(r), nil
	case "gzip":
		return gzip.NewReader(r)
	case "br":
		return io.NopCloser(brrr.NewReader(r)), nil
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return nil, fmt.Errorf("unknown content coding %q", name)
}
