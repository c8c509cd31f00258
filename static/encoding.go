package static

import (
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/edge-server/edge/internal/contentcoding"
)

// encoding is a content coding edge can send.
type encoding uint8

const (
	encIdentity encoding = iota
	encBrotli
	encGzip
	numEncodings
)

var (
	encodingNames  = [numEncodings][]byte{nil, []byte("br"), []byte("gzip")}
	encodingSuffix = [numEncodings]string{"", ".br", ".gz"}
	// encodingTag is appended inside an ETag so each coding is its own representation.
	encodingTag = [numEncodings]string{"", "-br", "-gz"}
)

// Levels for on-the-fly compression. Results are cached per file version, so a
// slower, denser level is paid once.
const (
	dynBrotliLevel = 7
	dynGzipLevel   = fasthttp.CompressBestCompression
)

// staticOrder breaks q-value ties for files: brotli first, since a file's
// compressed form is made once per version and the densest one pays back.
var staticOrder = []contentcoding.Coding{contentcoding.Brotli, contentcoding.Gzip}

var asCoding = [numEncodings]contentcoding.Coding{contentcoding.Identity, contentcoding.Brotli, contentcoding.Gzip}

// pickEncoding chooses among the codings in have for an Accept-Encoding value, with
// the negotiation proxied responses use (internal/contentcoding).
func pickEncoding(acceptEncoding []byte, have *[numEncodings]bool) encoding {
	a := contentcoding.ParseAcceptEncoding(acceptEncoding)
	var set contentcoding.Set
	for e := range numEncodings {
		set[asCoding[e]] = have[e]
	}
	switch a.Pick(&set, staticOrder) {
	case contentcoding.Brotli:
		return encBrotli
	case contentcoding.Gzip:
		return encGzip
	}
	return encIdentity
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// lazyRep is an on-the-fly compressed representation, computed on first use.
type lazyRep struct {
	once sync.Once
	rep  *staticRep // nil: not compressible enough, too big, or over the memory budget
}

// compressRep compresses src with e and returns the representation, or nil when the
// result would not save at least 1/16 of the bytes.
func compressRep(src []byte, e encoding, etag string) *staticRep {
	var out []byte
	switch e {
	case encBrotli:
		out = fasthttp.AppendBrotliBytesLevel(nil, src, dynBrotliLevel)
	case encGzip:
		out = fasthttp.AppendGzipBytesLevel(nil, src, dynGzipLevel)
	default:
		return nil
	}
	if len(out) > len(src)-len(src)/16 {
		return nil
	}
	return &staticRep{
		data:     out,
		inMemory: true,
		size:     int64(len(out)),
		etag:     []byte(etagWithTag(etag, encodingTag[e])),
		encoding: e,
	}
}

// etagWithTag inserts a tag before the closing quote: "abc" + "-gz" = "abc-gz".
func etagWithTag(etag, tag string) string {
	return etag[:len(etag)-1] + tag + `"`
}
