package proxy

import (
	"bytes"
	"strconv"

	"github.com/valyala/fasthttp"
)

// appendUpstreamRequest appends to dst the exact bytes edge sends upstream: request
// line, header section and body. The request is built from what edge decided, not
// filtered from the client's message: the method, the target t (origin-form, Host
// regenerated from it), HTTP/1.1, the client's end-to-end header fields as they
// appear in its header section (so never its trailers), edge's own forwarding headers
// and request id, and the body edge read with its own Content-Length. upgrade keeps
// Upgrade for a WebSocket handshake. It reports whether the client's Connection field
// asked to close (fasthttp only notices a bare "close", not one inside a list).
//
// Field names are sent in canonical form (X-Ok, as fasthttp's client did); the
// client's Cookie fields are joined into one (RFC 6265 §5.4), and of several
// Content-Type or User-Agent fields the last one is sent.
func appendUpstreamRequest(dst []byte, ctx *fasthttp.RequestCtx, t requestTarget, rid []byte, upgrade bool) (_ []byte, closeAsked bool) {
	in := &ctx.Request
	raw := in.Header.RawHeaders()
	f := hopFilter{keepUpgrade: upgrade}
	lastCT, lastUA, cookies := -1, -1, 0
	r := rawFields{b: raw}
	for i := 0; r.next(); i++ {
		switch len(r.k) {
		case 6:
			if caseEq(r.k, "cookie") {
				cookies++
			}
		case 10:
			if caseEq(r.k, "connection") {
				f.addConnection(r.v)
			} else if caseEq(r.k, "user-agent") {
				lastUA = i
			}
		case 12:
			if caseEq(r.k, "content-type") {
				lastCT = i
			}
		}
	}
	method := in.Header.Method()
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, t.uri...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, t.host...)
	dst = append(dst, "\r\n"...)
	joined := false // the client's Cookie fields went out as one line
	r = rawFields{b: raw}
	for i := 0; r.next(); i++ {
		if f.drop(r.k) || edgeOwnedHeader(r.k) || bytes.IndexByte(r.k, '_') >= 0 {
			continue
		}
		switch {
		case len(r.k) == 12 && i != lastCT && caseEq(r.k, "content-type"),
			len(r.k) == 10 && i != lastUA && caseEq(r.k, "user-agent"):
			continue
		case cookies > 1 && len(r.k) == 6 && caseEq(r.k, "cookie"):
			if !joined {
				dst = appendJoinedCookies(dst, r)
				joined = true
			}
			continue
		}
		dst = appendCanonicalName(dst, r.k)
		dst = append(dst, ": "...)
		dst = append(dst, r.v...)
		dst = append(dst, "\r\n"...)
	}
	if upgrade {
		dst = append(dst, "Connection: Upgrade\r\n"...)
	}
	dst = appendForwarded(dst, &in.Header, ctx.RemoteAddr(), ctx.IsTLS(), t.host, t.trusted)
	dst = append(dst, hdrRequestID+": "...)
	dst = append(dst, rid...)
	dst = append(dst, "\r\n"...)
	// The body is the one edge read; GET and HEAD without one say nothing about it.
	if n := len(in.Body()); n > 0 || !(in.Header.IsGet() || in.Header.IsHead()) {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(n), 10)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return dst, f.closeAsked
}

// appendJoinedCookies writes one Cookie line with the value of the field r is at and
// of every later Cookie field, joined by "; ".
func appendJoinedCookies(dst []byte, r rawFields) []byte {
	dst = append(dst, "Cookie: "...)
	dst = append(dst, r.v...)
	for r.next() {
		if len(r.k) == 6 && caseEq(r.k, "cookie") {
			dst = append(dst, "; "...)
			dst = append(dst, r.v...)
		}
	}
	return append(dst, "\r\n"...)
}

// appendCanonicalName writes a field name as fasthttp normalizes it: the first letter
// and every letter after a '-' upper case, the rest lower case.
func appendCanonicalName(dst, k []byte) []byte {
	up := true
	for _, c := range k {
		switch {
		case up && c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case !up && c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		dst = append(dst, c)
		up = c == '-'
	}
	return dst
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
