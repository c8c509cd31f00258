package proxy

import (
	"github.com/valyala/fasthttp"
)

// MaxWeight is the largest canary weight; 100 would be a switch.
const MaxWeight = 99

// VisitorCookie carries a visitor's canary identity. Any value works (an app may set
// it to an account id so that a user keeps one color across devices); edge sets it,
// while a canary runs, for visitors that come without it, to a value derived from
// their address, so the color they got stays theirs if their address changes.
const VisitorCookie = "edge_visitor"

// visitorCookieAttrs follow the cookie value edge sets.
const visitorCookieAttrs = "; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax"

// visitor decides, once per request and only while a canary runs, which of 100
// buckets the visitor falls in: a hash of the VisitorCookie value, or for a request
// without one, of the value derived from the client address (so a client that never
// keeps cookies still always gets the same color).
type visitor struct {
	ctx     *fasthttp.RequestCtx
	decided bool
	b       uint32
	issue   bool     // no cookie came: set one on the response
	id      [16]byte // the value to set
}

func (v *visitor) bucket() uint32 {
	if v.decided {
		return v.b
	}
	v.decided = true
	id := v.ctx.Request.Header.Cookie(VisitorCookie)
	if len(id) == 0 {
		const hexDigits = "0123456789abcdef"
		h := fnv64(v.ctx.RemoteIP())
		for i := range v.id {
			v.id[i] = hexDigits[h>>(60-4*i)&0xf]
		}
		id, v.issue = v.id[:], true
	}
	v.b = uint32(fnv64(id) % 100)
	return v.b
}

// setCookie adds the visitor cookie to the response when this request came without one.
func (v *visitor) setCookie(h *fasthttp.ResponseHeader) {
	if !v.issue {
		return
	}
	var buf [len(VisitorCookie) + 1 + 16 + len(visitorCookieAttrs)]byte
	b := append(buf[:0], VisitorCookie...)
	b = append(b, '=')
	b = append(b, v.id[:]...)
	b = append(b, visitorCookieAttrs...)
	h.AddBytesV(fasthttp.HeaderSetCookie, b)
}

// fnv64 is FNV-1a with a final avalanche (fmix64 of MurmurHash3), so that ids that
// differ only in their last characters spread evenly over the buckets.
func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
