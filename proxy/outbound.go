package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// buildUpstreamRequest writes into out the request edge sends upstream. It is built
// from what edge decided, not filtered from the client's message: the method, the
// target t (origin-form, Host regenerated from it), HTTP/1.1, the client's end-to-end
// header fields as they appear in its header section (so never its trailers), edge's
// own forwarding headers and request id, and the body edge read. upgrade keeps
// Upgrade for a WebSocket handshake. It reports whether the client's Connection field
// asked to close (fasthttp only notices a bare "close", not one inside a list).
func buildUpstreamRequest(out *fasthttp.Request, ctx *fasthttp.RequestCtx, t requestTarget, rid []byte, upgrade bool) (closeAsked bool) {
	in := &ctx.Request
	raw := in.Header.RawHeaders()
	f := hopFilter{keepUpgrade: upgrade}
	r := rawFields{b: raw}
	for r.next() {
		if caseEq(r.k, "connection") {
			f.addConnection(r.v)
		}
	}
	out.Header.SetMethodBytes(in.Header.Method())
	out.Header.SetRequestURIBytes(t.uri)
	out.Header.SetHostBytes(t.host)
	out.UseHostHeader = true
	out.Header.SetNoDefaultContentType(true) // no Content-Type the client did not send
	r = rawFields{b: raw}
	for r.next() {
		if f.drop(r.k) || edgeOwnedHeader(r.k) || bytes.IndexByte(r.k, '_') >= 0 {
			continue
		}
		out.Header.AddBytesKV(r.k, r.v)
	}
	if upgrade {
		out.Header.Set("Connection", "Upgrade")
	}
	setForwarded(&out.Header, &in.Header, ctx.RemoteAddr(), ctx.IsTLS(), t.host, t.trusted)
	out.Header.SetBytesV(hdrRequestID, rid)
	out.SetBodyRaw(in.Body())
	return f.closeAsked
}

// edgeOwnedHeader reports the request fields edge writes itself, so a client's copies
// (one or many) never reach the upstream: Host (from the target), the body framing
// (edge sends the body it read, with its own Content-Length), Expect (edge answered
// 100-continue itself), the request id, and the forwarding headers: Forwarded,
// X-Real-IP and every X-Forwarded-* (an app trusting X-Forwarded-Prefix or -Port
// must not get a client's).
func edgeOwnedHeader(k []byte) bool {
	switch len(k) {
	case 4:
		return caseEq(k, "host")
	case 6:
		return caseEq(k, "expect")
	case 9:
		return caseEq(k, "forwarded") || caseEq(k, "x-real-ip")
	case 12:
		return caseEq(k, "x-request-id")
	case 14:
		return caseEq(k, "content-length")
	}
	return len(k) > 12 && caseEq(k[:12], "x-forwarded-")
}
