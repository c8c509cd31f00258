package static

import (
	"bytes"
	"strconv"

	"github.com/valyala/fasthttp"
)

var (
	hdrAllow          = []byte("Allow")
	valAllow          = []byte("GET, HEAD")
	hdrLocation       = []byte("Location")
	hdrVary           = []byte("Vary")
	valAcceptEncoding = []byte("Accept-Encoding")
	hdrETag           = []byte("ETag")
	hdrLastModified   = []byte("Last-Modified")
	hdrCacheControl   = []byte("Cache-Control")
	hdrAcceptRanges   = []byte("Accept-Ranges")
	valBytes          = []byte("bytes")
	hdrNoSniff        = []byte("X-Content-Type-Options")
	valNoSniff        = []byte("nosniff")
	hdrContentRange   = []byte("Content-Range")
)

var (
	keyRange           = []byte(fasthttp.HeaderRange)
	keyAcceptEncoding  = []byte(fasthttp.HeaderAcceptEncoding)
	keyIfNoneMatch     = []byte(fasthttp.HeaderIfNoneMatch)
	keyIfModifiedSince = []byte(fasthttp.HeaderIfModifiedSince)
	keyIfRange         = []byte(fasthttp.HeaderIfRange)
)

// requestHeaders reads request headers without re-normalizing the name on every
// lookup (a fifth of the handler's time otherwise). fasthttp stores names in
// canonical form unless the server disabled normalizing; then names are stored as
// the client sent them and are matched case-insensitively.
type requestHeaders struct {
	h          *fasthttp.RequestHeader
	normalized bool
}

func (r *requestHeaders) init() {
	// DisableNormalizing reports the previous setting; restore it right away.
	r.normalized = !r.h.DisableNormalizing()
	if r.normalized {
		r.h.EnableNormalizing()
	}
}

func (r *requestHeaders) peek(canonical []byte) []byte {
	if r.normalized {
		return r.h.PeekCanonical(canonical)
	}
	for k, v := range r.h.All() {
		if bytes.EqualFold(k, canonical) {
			return v
		}
	}
	return nil
}

// respond answers a GET or HEAD from entry e. It returns errRetired when e's big file
// was retired before a stream could be opened; the caller then looks up again.
func (h *staticHandler) respond(ctx *fasthttp.RequestCtx, e *staticEntry) error {
	req := requestHeaders{h: &ctx.Request.Header}
	req.init()
	rangeHdr := req.peek(keyRange)
	rep := e.reps[encIdentity]
	if e.vary && len(rangeHdr) == 0 {
		// Ranges are always served from the identity representation.
		if enc := pickEncoding(req.peek(keyAcceptEncoding), &e.have); enc != encIdentity {
			if r := e.representation(enc); r != nil {
				rep = r
			}
		}
	}

	// RFC 9110 §13.2.2: If-None-Match first; If-Modified-Since only without it.
	if inm := req.peek(keyIfNoneMatch); len(inm) > 0 {
		if etagListMatches(inm, rep.etag) {
			notModified(ctx, e, rep)
			return nil
		}
	} else if ims := req.peek(keyIfModifiedSince); len(ims) > 0 && e.unmodifiedSince(ims) {
		notModified(ctx, e, rep)
		return nil
	}

	status, start, length := fasthttp.StatusOK, int64(0), rep.size
	if len(rangeHdr) > 0 {
		if ifr := req.peek(keyIfRange); len(ifr) == 0 || e.ifRangeHolds(ifr, rep) {
			s, n, v := parseRange(rangeHdr, rep.size)
			switch v {
			case rangeSatisfiable:
				status, start, length = fasthttp.StatusPartialContent, s, n
			case rangeUnsatisfiable:
				rangeNotSatisfiable(ctx, rep.size)
				return nil
			}
		}
	}

	var stream *staticStream
	if !rep.inMemory && !ctx.IsHead() {
		var err error
		if stream, err = newStaticStream(rep.file, start, length, ctx.Conn()); err != nil {
			return err
		}
	}
	hdr := &ctx.Response.Header
	setRepHeaders(hdr, e, rep)
	hdr.SetContentTypeBytes(e.contentType)
	hdr.SetCanonical(hdrLastModified, e.lastModified)
	hdr.SetCanonical(hdrNoSniff, valNoSniff)
	if rep.encoding == encIdentity {
		// Ranges are served from the identity representation only.
		hdr.SetCanonical(hdrAcceptRanges, valBytes)
	} else {
		hdr.SetContentEncodingBytes(encodingNames[rep.encoding])
	}
	ctx.SetStatusCode(status)
	if status == fasthttp.StatusPartialContent {
		hdr.SetContentRange(int(start), int(start+length-1), int(rep.size))
	}
	switch {
	case rep.inMemory:
		// HEAD: fasthttp skips the body but still sends its length.
		ctx.Response.SetBodyRaw(rep.data[start : start+length])
	case stream == nil: // HEAD of a streamed file
		ctx.Response.SkipBody = true
		hdr.SetContentLength(int(length))
	default:
		ctx.Response.SetBodyStream(stream, int(length))
	}
	return nil
}

// setRepHeaders sets the headers a 200, 206 and 304 share.
func setRepHeaders(hdr *fasthttp.ResponseHeader, e *staticEntry, rep *staticRep) {
	hdr.SetCanonical(hdrETag, rep.etag)
	hdr.SetCanonical(hdrCacheControl, e.cacheControl)
	if e.vary {
		hdr.SetCanonical(hdrVary, valAcceptEncoding)
	}
}

func notModified(ctx *fasthttp.RequestCtx, e *staticEntry, rep *staticRep) {
	ctx.NotModified()
	setRepHeaders(&ctx.Response.Header, e, rep)
	// fasthttp would otherwise add its default text/plain, which a cache could copy
	// onto the stored response (RFC 9111 §4.3.4).
	ctx.Response.Header.SetContentTypeBytes(e.contentType)
	ctx.Response.Header.SetCanonical(hdrLastModified, e.lastModified)
}

func rangeNotSatisfiable(ctx *fasthttp.RequestCtx, size int64) {
	ctx.Error("Range Not Satisfiable", fasthttp.StatusRequestedRangeNotSatisfiable)
	var buf [32]byte
	v := append(buf[:0], "bytes */"...)
	v = strconv.AppendInt(v, size, 10)
	ctx.Response.Header.SetCanonical(hdrContentRange, v)
	ctx.Response.Header.SetCanonical(hdrAcceptRanges, valBytes)
}

// etagListMatches is the weak comparison of If-None-Match (RFC 9110 §13.1.2):
// "*" or any listed tag equal to etag once "W/" prefixes are ignored.
func etagListMatches(list, etag []byte) bool {
	for len(list) > 0 {
		var tag []byte
		if i := bytes.IndexByte(list, ','); i >= 0 {
			tag, list = list[:i], list[i+1:]
		} else {
			tag, list = list, nil
		}
		tag = trimOWS(tag)
		if len(tag) == 1 && tag[0] == '*' {
			return true
		}
		if len(tag) > 2 && tag[0] == 'W' && tag[1] == '/' {
			tag = tag[2:]
		}
		if bytes.Equal(tag, etag) {
			return true
		}
	}
	return false
}

// unmodifiedSince evaluates If-Modified-Since: true when the file is not newer.
// An invalid date is ignored (the condition is false).
func (e *staticEntry) unmodifiedSince(ims []byte) bool {
	if bytes.Equal(ims, e.lastModified) {
		return true
	}
	t, err := fasthttp.ParseHTTPDate(ims)
	if err != nil {
		return false
	}
	return !e.modTime.After(t)
}

// ifRangeHolds evaluates If-Range (RFC 9110 §13.1.5): a strong ETag must equal the
// current one, a date must equal Last-Modified exactly; otherwise send the whole file.
func (e *staticEntry) ifRangeHolds(ifr []byte, rep *staticRep) bool {
	ifr = trimOWS(ifr)
	if len(ifr) > 0 && ifr[0] == '"' {
		return bytes.Equal(ifr, rep.etag)
	}
	if len(ifr) > 1 && ifr[0] == 'W' && ifr[1] == '/' {
		return false
	}
	return bytes.Equal(ifr, e.lastModified)
}

type rangeVerdict uint8

const (
	rangeIgnore        rangeVerdict = iota // absent, malformed, multi-range, other unit: send 200
	rangeSatisfiable                       // send 206 for [start, start+length)
	rangeUnsatisfiable                     // send 416
)

// parseRange parses a single "bytes=" range against size. Several ranges are not
// served as multipart: the whole file is sent instead, as RFC 9110 allows.
func parseRange(h []byte, size int64) (start, length int64, v rangeVerdict) {
	h = trimOWS(h)
	if len(h) < 6 || !bytes.EqualFold(h[:6], []byte("bytes=")) {
		return 0, 0, rangeIgnore
	}
	spec := trimOWS(h[6:])
	if bytes.IndexByte(spec, ',') >= 0 {
		return 0, 0, rangeIgnore
	}
	dash := bytes.IndexByte(spec, '-')
	if dash < 0 {
		return 0, 0, rangeIgnore
	}
	first, okFirst := parseRangeInt(trimOWS(spec[:dash]))
	last, okLast := parseRangeInt(trimOWS(spec[dash+1:]))
	switch {
	case dash == 0 || len(trimOWS(spec[:dash])) == 0: // suffix: bytes=-N
		if !okLast {
			return 0, 0, rangeIgnore
		}
		if last == 0 || size == 0 {
			return 0, 0, rangeUnsatisfiable
		}
		n := min(last, size)
		return size - n, n, rangeSatisfiable
	case !okFirst:
		return 0, 0, rangeIgnore
	case len(trimOWS(spec[dash+1:])) == 0: // open: bytes=N-
		last = size - 1
	case !okLast || last < first:
		return 0, 0, rangeIgnore
	}
	if first >= size {
		return 0, 0, rangeUnsatisfiable
	}
	last = min(last, size-1)
	return first, last - first + 1, rangeSatisfiable
}

// parseRangeInt parses a non-negative decimal of at most 18 digits.
func parseRangeInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}
