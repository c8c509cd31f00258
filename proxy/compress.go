package proxy

import (
	"bytes"
	"io"
	"sync"

	"github.com/edge-server/edge/internal/contentcoding"
	"github.com/valyala/fasthttp"
)

// dynamicOrder breaks q-value ties for responses compressed as they pass: zstd is
// the cheapest per byte saved, brotli at level 4 the densest, gzip what everyone has.
var dynamicOrder = []contentcoding.Coding{contentcoding.Zstd, contentcoding.Brotli, contentcoding.Gzip}

var allCodings = contentcoding.Set{true, true, true, true}

const defaultCompressMinSize = 1024

// compressResponse compresses a proxied response in place when the client accepts a
// coding and the response is worth it. It never touches a response that is already
// encoded, partial (206, Content-Range), marked Cache-Control: no-transform, an
// event stream (SSE is left byte-for-byte as the app sends it), or of a type that
// does not compress (images, video, archives). A body read whole is compressed at
// once; a streamed body is compressed as it streams, flushed after every upstream
// read so nothing waits in the encoder.
func compressResponse(ctx *fasthttp.RequestCtx, minSize int) {
	resp := &ctx.Response
	h := &resp.Header
	switch st := resp.StatusCode(); {
	case st < 200, st == fasthttp.StatusNoContent, st == fasthttp.StatusNotModified,
		st == fasthttp.StatusPartialContent:
		return
	}
	if ctx.IsHead() || len(h.ContentEncoding()) > 0 || len(h.Peek(fasthttp.HeaderContentRange)) > 0 ||
		!compressibleType(h.ContentType()) || hasToken(h.Peek(fasthttp.HeaderCacheControl), "no-transform") {
		return
	}
	stream := resp.IsBodyStream()
	size := h.ContentLength()
	if !stream {
		size = len(resp.Body())
	}
	if size >= 0 && size < minSize {
		return
	}
	addVaryAcceptEncoding(h)
	ae := contentcoding.ParseAcceptEncoding(ctx.Request.Header.Peek(fasthttp.HeaderAcceptEncoding))
	c := ae.Pick(&allCodings, dynamicOrder)
	if c == contentcoding.Identity {
		return
	}
	if stream {
		ub, ok := resp.BodyStream().(*upstreamBody)
		if !ok || !ctx.Request.Header.IsHTTP11() { // an HTTP/1.0 client cannot take chunks
			return
		}
		cs := compressStreamPool.Get().(*compressStream)
		cs.start(ub.detach(), c)
		resp.SetBodyStream(cs, -1) // closes the detached shell, not the upstream
		resp.ImmediateHeaderFlush = true
	} else if !compressBody(resp, c) {
		return
	}
	h.SetContentEncoding(c.Name())
	h.Del(fasthttp.HeaderAcceptRanges) // byte ranges of the identity body no longer apply
	weakenETag(h)
}

// compressibleType accepts text and the structured text types browsers fetch.
func compressibleType(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	var lower [80]byte
	if len(ct) > len(lower) {
		return false
	}
	for i, c := range ct {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	ct = lower[:len(ct)]
	switch {
	case len(ct) == 0, bytes.Equal(ct, []byte("text/event-stream")):
		return false
	case bytes.HasPrefix(ct, []byte("text/")),
		bytes.HasSuffix(ct, []byte("+json")), bytes.HasSuffix(ct, []byte("+xml")):
		return true
	}
	switch string(ct) {
	case "application/json", "application/javascript", "application/x-javascript", "application/xml",
		"application/wasm", "application/manifest+json", "application/x-ndjson", "application/graphql-response+json",
		"image/svg+xml", "image/x-icon", "image/vnd.microsoft.icon", "font/ttf", "font/otf",
		"application/vnd.ms-fontobject", "application/x-font-ttf":
		return true
	}
	return false
}

// hasToken reports whether a comma-separated header value lists tok (case-insensitive).
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var t []byte
		t, v = nextToken(v)
		if i := bytes.IndexByte(t, '='); i >= 0 {
			t = t[:i]
		}
		if caseEq(t, tok) {
			return true
		}
	}
	return false
}

// addVaryAcceptEncoding adds Accept-Encoding to Vary unless it is already there or
// Vary is "*".
func addVaryAcceptEncoding(h *fasthttp.ResponseHeader) {
	v := h.Peek(fasthttp.HeaderVary)
	if len(v) == 0 {
		h.Set(fasthttp.HeaderVary, fasthttp.HeaderAcceptEncoding)
		return
	}
	if bytes.Equal(bytes.TrimSpace(v), []byte("*")) || hasToken(v, "accept-encoding") {
		return
	}
	var buf [256]byte
	nv := append(append(append(buf[:0], v...), ", "...), fasthttp.HeaderAcceptEncoding...)
	h.SetBytesV(fasthttp.HeaderVary, nv)
}

// weakenETag turns a strong ETag into a weak one, as nginx does when it compresses:
// the compressed bytes differ from the identity ones, but the content is the same.
func weakenETag(h *fasthttp.ResponseHeader) {
	et := h.Peek(fasthttp.HeaderETag)
	if len(et) == 0 || bytes.HasPrefix(et, []byte("W/")) {
		return
	}
	var buf [128]byte
	w := append(append(buf[:0], "W/"...), et...)
	h.SetBytesV(fasthttp.HeaderETag, w)
}

// byteSink collects encoder output in a reusable slice.
type byteSink struct{ b []byte }

func (s *byteSink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

var sinkPool = sync.Pool{New: func() any { return &byteSink{b: make([]byte, 0, 16<<10)} }}

// compressBody replaces a whole body by its compressed form, unless that would not
// be smaller. The old body buffer goes into the pool for the next response.
func compressBody(resp *fasthttp.Response, c contentcoding.Coding) bool {
	body := resp.Body()
	sink := sinkPool.Get().(*byteSink)
	sink.b = sink.b[:0]
	w := contentcoding.NewWriter(c, sink)
	_, err := w.Write(body)
	if err == nil {
		err = w.Close()
	}
	contentcoding.Release(w)
	if err != nil || len(sink.b) >= len(body) {
		sinkPool.Put(sink)
		return false
	}
	old := resp.SwapBody(sink.b)
	sink.b = old[:0]
	sinkPool.Put(sink)
	resp.Header.SetContentLength(len(resp.Body()))
	return true
}

// compressStream compresses an upstream body as fasthttp reads it for the client.
type compressStream struct {
	inner *upstreamBody
	w     contentcoding.Writer
	out   byteSink // encoder output not yet handed to fasthttp
	off   int
	in    *[]byte
	done  bool
}

var compressStreamPool = sync.Pool{New: func() any { return new(compressStream) }}

func (cs *compressStream) start(inner *upstreamBody, c contentcoding.Coding) {
	cs.inner, cs.in = inner, copyBufPool.Get().(*[]byte)
	cs.out.b, cs.off, cs.done = cs.out.b[:0], 0, false
	cs.w = contentcoding.NewWriter(c, &cs.out)
}

func (cs *compressStream) Read(p []byte) (int, error) {
	for cs.off == len(cs.out.b) {
		if cs.done {
			return 0, io.EOF
		}
		cs.out.b, cs.off = cs.out.b[:0], 0
		buf := *cs.in
		n, err := cs.inner.Read(buf)
		if n > 0 {
			if _, werr := cs.w.Write(buf[:n]); werr != nil {
				return 0, werr
			}
		}
		switch {
		case err == io.EOF:
			if cerr := cs.w.Close(); cerr != nil {
				return 0, cerr
			}
			cs.done = true
		case err != nil:
			return 0, err
		case n > 0:
			// Flush per upstream read: what the app sent is decodable by the client
			// now, not when the encoder's window fills (costs a few bytes per read).
			if ferr := cs.w.Flush(); ferr != nil {
				return 0, ferr
			}
		}
	}
	n := copy(p, cs.out.b[cs.off:])
	cs.off += n
	return n, nil
}

// CloseWithError is called by fasthttp once, after the body was written or failed.
func (cs *compressStream) CloseWithError(err error) error {
	_ = cs.inner.CloseWithError(err)
	contentcoding.Release(cs.w)
	copyBufPool.Put(cs.in)
	if cap(cs.out.b) > 256<<10 { // one huge burst should not pin its buffer in the pool
		cs.out.b = nil
	}
	*cs = compressStream{out: cs.out}
	compressStreamPool.Put(cs)
	return nil
}

// detach moves the upstream into a new upstreamBody and leaves b an empty shell
// whose CloseWithError does nothing, so the body can be handed to a wrapper even
// though fasthttp closes the stream it replaces.
func (b *upstreamBody) detach() *upstreamBody {
	nb := bodyPool.Get().(*upstreamBody)
	*nb = *b
	*b = upstreamBody{}
	return nb
}
