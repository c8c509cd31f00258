package static

import (
	"bytes"
	"sync"

	"github.com/valyala/fasthttp"
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

// acceptedEncodings holds the q-values (0..1000) an Accept-Encoding header gave;
// -1 means the coding was not mentioned.
type acceptedEncodings struct {
	q        [numEncodings]int
	star     int
	explicit bool // identity was listed by name
}

// parseAcceptEncoding parses an Accept-Encoding value ("gzip, br;q=0.9, *;q=0")
// without allocating. Elements with an unparsable q-value are ignored.
func parseAcceptEncoding(h []byte) acceptedEncodings {
	a := acceptedEncodings{q: [numEncodings]int{-1, -1, -1}, star: -1}
	for len(h) > 0 {
		var elem []byte
		if i := bytes.IndexByte(h, ','); i >= 0 {
			elem, h = h[:i], h[i+1:]
		} else {
			elem, h = h, nil
		}
		name, params := elem, []byte(nil)
		if i := bytes.IndexByte(elem, ';'); i >= 0 {
			name, params = elem[:i], elem[i+1:]
		}
		name = trimOWS(name)
		q, ok := parseQParams(params)
		if !ok || len(name) == 0 {
			continue
		}
		switch {
		case bytes.EqualFold(name, []byte("br")):
			a.q[encBrotli] = q
		case bytes.EqualFold(name, []byte("gzip")), bytes.EqualFold(name, []byte("x-gzip")):
			a.q[encGzip] = q
		case bytes.EqualFold(name, []byte("identity")):
			a.q[encIdentity] = q
			a.explicit = true
		case len(name) == 1 && name[0] == '*':
			a.star = q
		}
	}
	return a
}

// quality is the effective q-value of a coding: its own, else the wildcard's, else 0.
func (a *acceptedEncodings) quality(e encoding) int {
	if a.q[e] >= 0 {
		return a.q[e]
	}
	if a.star >= 0 {
		return a.star
	}
	return 0
}

// pick chooses among the codings in have (identity is always available). A coding
// with q > 0 beats identity unless identity is listed explicitly with a higher q;
// between br and gzip the higher q wins and br wins ties (it is smaller).
func (a *acceptedEncodings) pick(have *[numEncodings]bool) encoding {
	best, bestQ := encIdentity, 0
	for e := encBrotli; e < numEncodings; e++ {
		if !have[e] {
			continue
		}
		if q := a.quality(e); q > bestQ {
			best, bestQ = e, q
		}
	}
	if best != encIdentity && a.explicit && a.q[encIdentity] > bestQ {
		return encIdentity
	}
	return best
}

// parseQParams finds "q=" among ";"-separated parameters. No q means 1000.
func parseQParams(params []byte) (int, bool) {
	q := 1000
	for len(params) > 0 {
		var p []byte
		if i := bytes.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			p, params = params, nil
		}
		p = trimOWS(p)
		if len(p) >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=' {
			v, ok := parseQValue(p[2:])
			if !ok {
				return 0, false
			}
			q = v
		}
	}
	return q, true
}

// parseQValue parses an RFC 9110 qvalue ("0", "0.5", "1.000") into thousandths.
func parseQValue(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 5 || (b[0] != '0' && b[0] != '1') {
		return 0, false
	}
	v := int(b[0]-'0') * 1000
	if len(b) == 1 {
		return v, true
	}
	if b[1] != '.' {
		return 0, false
	}
	scale := 100
	for _, c := range b[2:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v += int(c-'0') * scale
		scale /= 10
	}
	if v > 1000 {
		return 0, false
	}
	return v, true
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
