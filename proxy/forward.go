package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// maxBufferedBody is the largest upstream body with a known length that edge reads
// whole before answering. Such a body is written to the client with its header in
// two writes at most and the upstream connection goes back to the pool before the
// client has read anything; streaming it instead costs a read and a write per 32 KiB
// (and more CPU per request, see docs/benchmarks.md "Profile-driven fixes"). Bodies
// of unknown length (chunked, SSE) and bigger ones are streamed.
const maxBufferedBody = 128 << 10

// forward proxies one request to the app's live color and returns that color's name.
// The upstream's response head is parsed once, straight into the client's response,
// and its hop-by-hop fields are removed there. A body of unknown length or over
// maxBufferedBody is streamed: it is not buffered whole, and the request stays in
// flight (for drains and metrics) until the last byte went to the client.
func (s *Server) forward(ctx *fasthttp.RequestCtx, a *app, rid []byte, t requestTarget) string {
	if !s.admitToApp(ctx, a, rid) {
		return ""
	}
	v := visitor{ctx: ctx}
	if isWebSocketUpgrade(&ctx.Request.Header) {
		return s.proxyWebSocket(ctx, a, &v, rid, t)
	}
	p := a.acquire(&v)
	sl := p.pick(0)
	sl.begin()
	o := outboundPool.Get().(*outbound)
	closeAsked := o.build(ctx, t, rid)
	h := &ctx.Response.Header
	sl, pc, err := p.do(sl, o, h)
	o.release()
	if err == nil && h.StatusCode() == fasthttp.StatusSwitchingProtocols {
		// Nothing asked for an upgrade: the upstream speaks another protocol on this
		// connection now, so it never carries another request.
		sl.up.discard(pc)
		err = errUnaskedSwitch
	}
	if err != nil {
		s.failForward(ctx, sl, err, rid)
		return sl.cname
	}
	b := bodyPool.Get().(*upstreamBody)
	b.body.reset(pc.br, responseBodyMode(h, ctx.IsHead()), int64(h.ContentLength()))
	b.keep = !h.ConnectionClose() // read before the Connection field is stripped
	cl := h.ContentLength()
	switch m := b.body.mode; {
	case m == bodyNone, m == bodyFixed && cl <= maxBufferedBody, m != bodyFixed && !ctx.Request.Header.IsHTTP11():
		if b.body.mode == bodyFixed {
			err = readBody(&ctx.Response, &b.body, cl)
		} else if b.body.mode != bodyNone {
			// An HTTP/1.0 client cannot read chunks and fasthttp cannot send a body
			// delimited by the close, so edge reads it whole, bounded by the body limit.
			err = s.readWholeBody(&ctx.Response, &b.body)
		}
		b.giveBack(sl, pc)
		*b = upstreamBody{}
		bodyPool.Put(b)
		if err != nil {
			s.failForward(ctx, sl, err, rid)
			return sl.cname
		}
		s.finishHead(ctx, &v, closeAsked)
		sl.end()
		return sl.cname
	}
	s.finishHead(ctx, &v, closeAsked)
	if b.body.mode != bodyFixed {
		cl = -1 // chunked to the client, flushed as the upstream sends
		ctx.Response.ImmediateHeaderFlush = true
	}
	b.pc, b.slot = pc, sl
	b.conn, b.writeTimeout = ctx.Conn(), s.cfg.Limits.WriteTimeout
	b.size, b.log = cl, s.log
	b.ridLen = copy(b.rid[:], rid)
	ctx.Response.SetBodyStream(b, cl)
	return sl.cname
}

// responseBodyMode tells how the body after head h is delimited; a response to HEAD
// has none.
func responseBodyMode(h *fasthttp.ResponseHeader, head bool) bodyMode {
	if st := h.StatusCode(); head || st < 200 || st == fasthttp.StatusNoContent || st == fasthttp.StatusNotModified {
		return bodyNone
	}
	switch cl := h.ContentLength(); {
	case cl >= 0:
		return bodyFixed
	case cl == -1:
		return bodyChunked
	}
	return bodyUntilClose
}

// finishHead makes the upstream's head the client's: no invented Content-Type, no
// hop-by-hop field, the sticky canary cookie, and close when the client asked.
func (s *Server) finishHead(ctx *fasthttp.RequestCtx, v *visitor, closeAsked bool) {
	h := &ctx.Response.Header
	h.SetNoDefaultContentType(true)
	stripResponseHopByHop(h)
	v.setCookie(h)
	if closeAsked {
		h.SetConnectionClose()
	}
}

// failForward answers 502 or 504 for a request whose upstream exchange failed,
// dropping whatever of the upstream's answer was already read.
func (s *Server) failForward(ctx *fasthttp.RequestCtx, sl *slot, err error, rid []byte) {
	ctx.Response.Header.Reset()
	ctx.Response.ResetBody()
	sl.end()
	s.upstreamFailed(ctx, sl, err, rid)
}

// admitToApp applies maintenance and pause before a request reaches an app. It
// returns false when it answered the request itself.
func (s *Server) admitToApp(ctx *fasthttp.RequestCtx, a *app, rid []byte) bool {
	if m := a.state.maint.Load(); m != nil {
		m.write(ctx, rid)
		return false
	}
	if !a.state.gate.closed.Load() {
		return true
	}
	if !a.state.gate.wait(s.stopCh) {
		writePausedTooLong(ctx, rid)
		return false
	}
	if m := a.state.maint.Load(); m != nil { // turned on while the request waited
		m.write(ctx, rid)
		return false
	}
	return true
}

// readBody reads exactly n bytes of stream into resp's pooled body buffer, growing it
// only when it is too small, so steady traffic allocates nothing.
func readBody(resp *fasthttp.Response, stream io.Reader, n int) error {
	b := resp.SwapBody(nil)
	if cap(b) < n {
		b = make([]byte, n)
	}
	b = b[:n]
	_, err := io.ReadFull(stream, b)
	resp.SwapBody(b)
	if err != nil {
		return fmt.Errorf("reading the upstream response body: %w", err)
	}
	return nil
}

// readWholeBody reads a body of unknown length to its end, at most MaxBodyBytes. A
// chunked body whose connection ended before the last chunk is an error, not an end.
func (s *Server) readWholeBody(resp *fasthttp.Response, body *bodyReader) error {
	limit := int64(s.cfg.Limits.MaxBodyBytes)
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	switch {
	case err != nil:
		return fmt.Errorf("reading the upstream response body: %w", err)
	case int64(len(b)) > limit:
		return fmt.Errorf("reading the upstream response body for an HTTP/1.0 client: over %d bytes", limit)
	}
	resp.SetBodyRaw(b)
	return nil
}

// upstreamFailed answers 502 or 504 and logs why.
func (s *Server) upstreamFailed(ctx *fasthttp.RequestCtx, sl *slot, err error, rid []byte) {
	status := fasthttp.StatusBadGateway
	if isTimeout(err) {
		status = fasthttp.StatusGatewayTimeout
	}
	if ce := s.log.Check(zap.WarnLevel, "upstream request failed"); ce != nil {
		ce.Write(zap.ByteString("request_id", rid), zap.String("app", sl.app), zap.String("color", sl.cname),
			zap.String("upstream", sl.addr), zap.Int("status", status),
			zap.String("error", describeUpstreamErr(err, s.cfg.Limits.UpstreamTimeout).Error()))
	}
	writeErrorPage(ctx, status, rid)
}

// upstreamBody hands an upstream response body to fasthttp as a body stream. Each
// read also pushes the client's write deadline forward, so a long stream (SSE) is
// bounded by the write timeout per write, not in total. Close returns the upstream
// connection to its pool (when the body ended where its framing says) and ends the
// request's in-flight accounting.
//
// A body the upstream abandons (closed, reset or timed out before its end) is
// reported to fasthttp as an error, never as the end: fasthttp then closes the client
// connection without the terminating chunk, or short of the Content-Length, so the
// client can tell the body is truncated (nginx does the same). It is counted
// (Metrics.ResponseCut) and logged.
type upstreamBody struct {
	pc           *pconn
	body         bodyReader
	keep         bool // the upstream did not ask to close the connection
	slot         *slot
	conn         net.Conn
	writeTimeout time.Duration
	lastExtend   time.Time
	size         int // Content-Length, or -1
	got          int // bytes read so far
	log          *zap.Logger
	rid          [128]byte // request id for the cut log line (the request may be gone by then)
	ridLen       int
	cut          bool
}

// errBodyCut is what fasthttp sees when the upstream ended a body early.
var errBodyCut = errors.New("the upstream ended the response body before its end")

var bodyPool = sync.Pool{New: func() any { return new(upstreamBody) }}

// giveBack returns the connection to sl's pool when it is at the start of the next
// response, and closes it otherwise.
func (b *upstreamBody) giveBack(sl *slot, pc *pconn) {
	if b.keep && b.body.reusable() {
		sl.up.put(pc, pc.c.lastUse)
	} else {
		sl.up.discard(pc)
	}
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(b.lastExtend) > b.writeTimeout/8 {
		_ = b.conn.SetWriteDeadline(now.Add(b.writeTimeout))
		b.lastExtend = now
	}
	n, err := b.body.Read(p)
	b.got += n
	if err != nil && err != io.EOF && !b.cut {
		b.cutBody(err)
	}
	return n, err
}

// cutBody counts and logs a body the upstream did not complete.
func (b *upstreamBody) cutBody(err error) {
	b.cut = true
	b.slot.metrics.ResponseCut(b.slot.app, b.slot.cname)
	if ce := b.log.Check(zap.WarnLevel, "upstream response cut mid-body; closing the client connection"); ce != nil {
		ce.Write(zap.ByteString("request_id", b.rid[:b.ridLen]), zap.String("app", b.slot.app),
			zap.String("color", b.slot.cname), zap.String("upstream", b.slot.addr),
			zap.Int("bytes_sent", b.got), zap.Int("content_length", b.size), zap.Error(err))
	}
}

// copyBufPool holds the 32 KiB buffers of upstreamBody.WriteTo.
var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// WriteTo is how fasthttp sends a body of known length: through a pooled buffer (the
// socket's generic ReadFrom would allocate 32 KiB per response), flushing whatever a
// read brought so the client gets bytes as the upstream sends them.
func (b *upstreamBody) WriteTo(w io.Writer) (int64, error) {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	bw, _ := w.(*bufio.Writer)
	var n int64
	for {
		nr, rerr := b.Read(buf)
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			n += int64(nw)
			if werr == nil && bw != nil && bw.Buffered() > 0 {
				werr = bw.Flush()
			}
			if werr != nil {
				return n, werr
			}
		}
		switch {
		case rerr == io.EOF:
			return n, nil
		case rerr != nil:
			return n, rerr
		}
	}
}

// CloseWithError is called by fasthttp exactly once, after the body was written or
// the write failed.
func (b *upstreamBody) CloseWithError(err error) error {
	if b.pc == nil { // detached: a compressStream owns the upstream now
		bodyPool.Put(b)
		return nil
	}
	if err != nil && !b.cut { // the upstream was fine: the client went away or stopped reading
		b.slot.metrics.ClientCut(b.slot.app, b.slot.cname)
		if ce := b.log.Check(zap.InfoLevel, "client went away or stopped reading; response cut"); ce != nil {
			ce.Write(zap.ByteString("request_id", b.rid[:b.ridLen]), zap.String("app", b.slot.app),
				zap.String("color", b.slot.cname), zap.Int("bytes_read_from_upstream", b.got), zap.Error(err))
		}
	}
	b.giveBack(b.slot, b.pc)
	b.slot.end()
	*b = upstreamBody{}
	bodyPool.Put(b)
	return nil
}

// badFraming reports requests whose body length is ambiguous: Content-Length
// together with Transfer-Encoding. fasthttp itself rejects two Content-Length
// headers, bad values and unknown transfer codings; it lets Transfer-Encoding win over
// Content-Length, which is exactly what request smuggling exploits, so edge refuses.
func badFraming(h *fasthttp.RequestHeader) bool {
	switch cl := h.ContentLength(); {
	case cl == -1:
		return rawHasHeader(h.RawHeaders(), "content-length")
	case cl >= 0:
		return rawHasHeader(h.RawHeaders(), "transfer-encoding")
	}
	return false
}

// rawHasHeader looks for a header line named lname (lowercase) in raw header bytes.
func rawHasHeader(raw []byte, lname string) bool {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(line) > len(lname) && line[len(lname)] == ':' && caseEq(line[:len(lname)], lname) {
			return true
		}
	}
	return false
}
