package proxy

import (
	"bufio"
	"bytes"
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
// A body of unknown length or over maxBufferedBody is streamed: it is not buffered
// whole, and the request stays in flight (for drains and metrics) until the last byte
// went to the client.
func (s *Server) forward(ctx *fasthttp.RequestCtx, a *app, rid []byte) string {
	if isWebSocketUpgrade(&ctx.Request.Header) {
		return s.proxyWebSocket(ctx, a, rid)
	}
	sl := a.acquire()
	sl.begin()
	req := &ctx.Request
	closeAsked := prepareRequest(ctx, false)
	up := fasthttp.AcquireResponse()
	if err := sl.do(req, up); err != nil {
		fasthttp.ReleaseResponse(up)
		sl.end()
		s.upstreamFailed(ctx, sl, err, rid)
		return sl.cname
	}
	stream := up.BodyStream()
	cl := up.Header.ContentLength()
	if stream != nil && cl >= 0 && cl <= maxBufferedBody {
		err := readBody(&ctx.Response, stream, cl)
		_ = up.CloseBodyStream() // the upstream connection goes back to the pool
		stream = nil
		if err != nil {
			ctx.Response.ResetBody()
			fasthttp.ReleaseResponse(up)
			sl.end()
			s.upstreamFailed(ctx, sl, err, rid)
			return sl.cname
		}
	}
	h := &ctx.Response.Header
	up.Header.CopyTo(h)
	h.SetNoDefaultContentType(true)
	stripResponseHopByHop(h)
	if closeAsked {
		h.SetConnectionClose()
	}
	if stream == nil { // read whole, or HEAD, 204, 304: nothing more to send
		fasthttp.ReleaseResponse(up)
		sl.end()
		return sl.cname
	}
	if cl < 0 {
		cl = -1 // chunked to the client, flushed as the upstream sends
		ctx.Response.ImmediateHeaderFlush = true
	}
	b := bodyPool.Get().(*upstreamBody)
	b.resp, b.stream, b.slot = up, stream, sl
	b.conn, b.writeTimeout = ctx.Conn(), s.cfg.Limits.WriteTimeout
	ctx.Response.SetBodyStream(b, cl)
	return sl.cname
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

// prepareRequest turns the client's request into the upstream request in place:
// hop-by-hop headers out, forwarding headers in, the Host header kept as sent.
func prepareRequest(ctx *fasthttp.RequestCtx, upgrade bool) (closeAsked bool) {
	req := &ctx.Request
	req.UseHostHeader = true
	if ctx.IsTLS() { // upstreams speak plain HTTP; fasthttp refuses a scheme mismatch
		req.URI().SetScheme("http")
	}
	closeAsked = stripRequestHopByHop(&req.Header, upgrade)
	setForwarded(&req.Header, ctx.RemoteAddr(), ctx.IsTLS())
	return closeAsked
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
// connection to its pool and ends the request's in-flight accounting.
type upstreamBody struct {
	resp         *fasthttp.Response
	stream       io.Reader
	slot         *slot
	conn         net.Conn
	writeTimeout time.Duration
	lastExtend   time.Time
}

var bodyPool = sync.Pool{New: func() any { return new(upstreamBody) }}

func (b *upstreamBody) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(b.lastExtend) > b.writeTimeout/8 {
		_ = b.conn.SetWriteDeadline(now.Add(b.writeTimeout))
		b.lastExtend = now
	}
	return b.stream.Read(p)
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
func (b *upstreamBody) CloseWithError(error) error {
	_ = b.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(b.resp)
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
