package proxy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// Header names, as fasthttp normalizes them.
const (
	hdrXFF       = "X-Forwarded-For"
	hdrXFProto   = "X-Forwarded-Proto"
	hdrXFHost    = "X-Forwarded-Host"
	hdrXRealIP   = "X-Real-Ip"
	hdrRequestID = "X-Request-Id"
	hdrHSTS      = "Strict-Transport-Security"
	hstsValue    = "max-age=31536000"
)

// Request IDs are a per-process random prefix and a counter: unique, cheap, and
// they sort in arrival order within one process.
var (
	ridPrefix [12]byte
	ridSeq    atomic.Uint64
)

func init() {
	var b [6]byte
	_, _ = rand.Read(b[:])
	hex.Encode(ridPrefix[:], b[:])
}

const hexDigits = "0123456789abcdef"

func appendRequestID(dst []byte) []byte {
	dst = append(dst, ridPrefix[:]...)
	dst = append(dst, '-')
	n := ridSeq.Add(1)
	for shift := 44; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[(n>>uint(shift))&0xf])
	}
	return dst
}

// saneRequestID accepts an incoming X-Request-ID worth keeping: 1–128 characters
// from a conservative set that cannot break logs or headers.
func saneRequestID(b []byte) bool {
	if len(b) == 0 || len(b) > 128 {
		return false
	}
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == ':' || c == '+' || c == '/' || c == '=':
		default:
			return false
		}
	}
	return true
}

// requestID keeps a sane incoming X-Request-ID or sets a new one, and returns it.
// The result points into the request header; copy it to keep it.
func requestID(h *fasthttp.RequestHeader) []byte {
	if id := h.Peek(hdrRequestID); saneRequestID(id) {
		return id
	}
	var buf [32]byte
	h.SetBytesV(hdrRequestID, appendRequestID(buf[:0]))
	return h.Peek(hdrRequestID)
}

// appendIP writes the client address without allocating.
func appendIP(dst []byte, addr net.Addr) []byte {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap().AppendTo(dst)
	}
	return netip.IPv4Unspecified().AppendTo(dst)
}

// trustedForwardedFor is the one place where a client's own X-Forwarded-For is
// honoured: when the peer is one of trusted (a load balancer in trusted_proxies), the
// chain it sent is kept in front of the peer's address and the client for X-Real-IP
// is the rightmost untrusted address of it (clientAddr). Without trusted_proxies, or
// from any other peer, it returns nothing: edge's X-Forwarded-For is exactly the
// address of the peer it talks to. The kept chain is bounded to its last
// maxForwardedChain bytes.
func trustedForwardedFor(remote net.Addr, in *fasthttp.RequestHeader, trusted prefixList, chain []byte) (kept []byte, client netip.Addr) {
	ta, ok := remote.(*net.TCPAddr)
	if len(trusted) == 0 || !ok {
		return nil, netip.Addr{}
	}
	peer := ta.AddrPort().Addr().Unmap()
	if !trusted.contains(peer) {
		return nil, netip.Addr{}
	}
	for k, v := range in.All() {
		if !caseEq(k, "x-forwarded-for") || len(v) == 0 {
			continue
		}
		if len(chain) > 0 {
			chain = append(chain, ", "...)
		}
		chain = append(chain, v...)
	}
	if len(chain) > maxForwardedChain {
		chain = chain[len(chain)-maxForwardedChain:]
		if i := bytes.IndexByte(chain, ','); i >= 0 {
			chain = bytes.TrimLeft(chain[i+1:], " ")
		}
	}
	return chain, clientAddr(in, peer, trusted)
}

const maxForwardedChain = 1024

// appendForwarded appends edge's own forwarding header lines to an upstream request.
// Every client copy of them was left out (edgeOwnedHeader), so these are the only
// ones the upstream sees.
func appendForwarded(dst []byte, in *fasthttp.RequestHeader, remote net.Addr, isTLS bool, host []byte, trusted prefixList) []byte {
	var ipBuf [64]byte
	ip := appendIP(ipBuf[:0], remote)
	dst = append(dst, hdrXFF+": "...)
	var xff [256]byte
	if chain, client := trustedForwardedFor(remote, in, trusted, xff[:0]); len(chain) > 0 {
		dst = append(dst, chain...)
		dst = append(dst, ", "...)
		dst = append(dst, ip...) // the peer ends the chain
		if client.IsValid() {
			ip = client.AppendTo(ipBuf[:0]) // X-Real-IP is the client it names
		}
	} else {
		dst = append(dst, ip...)
	}
	dst = append(dst, "\r\n"+hdrXRealIP+": "...)
	dst = append(dst, ip...)
	if isTLS {
		dst = append(dst, "\r\n"+hdrXFProto+": https\r\n"+hdrXFHost+": "...)
	} else {
		dst = append(dst, "\r\n"+hdrXFProto+": http\r\n"+hdrXFHost+": "...)
	}
	dst = append(dst, host...)
	return append(dst, "\r\n"...)
}

// hopByHopName reports the header names that only ever concern one connection
// (RFC 9110 §7.6.1, RFC 9113 §8.2.2): Connection, Keep-Alive, TE, Trailer,
// Transfer-Encoding, Upgrade, HTTP2-Settings and the Proxy-* family.
func hopByHopName(k []byte) bool {
	if len(k) > 6 && caseEq(k[:6], "proxy-") {
		return true
	}
	switch len(k) {
	case 2:
		return caseEq(k, "te")
	case 7:
		return caseEq(k, "upgrade") || caseEq(k, "trailer")
	case 10:
		return caseEq(k, "connection") || caseEq(k, "keep-alive")
	case 14:
		return caseEq(k, "http2-settings")
	case 17:
		return caseEq(k, "transfer-encoding")
	}
	return false
}

// caseEq compares ASCII b with lowercase s, ignoring case.
func caseEq(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// hopFilter is edge's one hop-by-hop stripper, for requests and responses alike: fed
// every Connection field of a message, it tells which header fields must not cross
// edge. It remembers any number of Connection names: the first few in place, and
// all of them in a map once there are more (only a hostile peer sends that many, and
// it pays the allocation), so lookups stay linear in the number of fields.
type hopFilter struct {
	keepUpgrade bool // a WebSocket handshake: Upgrade passes
	closeAsked  bool // a Connection field listed "close"
	n           int
	small       [8][]byte // Connection names, pointing into the message's own header
	many        map[string]struct{}
}

// addConnection records the names listed in one Connection field value.
func (f *hopFilter) addConnection(v []byte) {
	for len(v) > 0 {
		var tok []byte
		tok, v = nextToken(v)
		switch {
		case len(tok) == 0:
		case caseEq(tok, "close"):
			f.closeAsked = true
		case f.many != nil:
			f.many[string(bytes.ToLower(tok))] = struct{}{}
		case f.n < len(f.small):
			f.small[f.n] = tok
			f.n++
		default:
			f.many = make(map[string]struct{}, 4*len(f.small))
			for _, t := range f.small[:f.n] {
				f.many[string(bytes.ToLower(t))] = struct{}{}
			}
			f.many[string(bytes.ToLower(tok))] = struct{}{}
		}
	}
}

// drop reports whether the field named k must be removed.
func (f *hopFilter) drop(k []byte) bool {
	if f.keepUpgrade && caseEq(k, "upgrade") {
		return false
	}
	if hopByHopName(k) {
		return true
	}
	if f.many != nil {
		var buf [64]byte
		if len(k) <= len(buf) {
			for i, c := range k {
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				buf[i] = c
			}
			_, ok := f.many[string(buf[:len(k)])]
			return ok
		}
		_, ok := f.many[string(bytes.ToLower(k))]
		return ok
	}
	for _, t := range f.small[:f.n] {
		if bytes.EqualFold(t, k) {
			return true
		}
	}
	return false
}

// stripResponseHopByHop removes the hop-by-hop fields of an upstream response header
// in place. Names are collected first and deleted after: deleting while iterating
// would skip fields.
func stripResponseHopByHop(h *fasthttp.ResponseHeader) {
	var f hopFilter
	for k, v := range h.All() {
		if caseEq(k, "connection") {
			f.addConnection(v)
		}
	}
	var arr [16][]byte
	del := arr[:0]
	for k := range h.All() {
		if f.drop(k) {
			del = append(del, k)
		}
	}
	for _, k := range del {
		h.DelBytes(k)
	}
}

// nextToken splits the first comma-separated token off a header value.
func nextToken(b []byte) (tok, rest []byte) {
	i := 0
	for i < len(b) && b[i] != ',' {
		i++
	}
	tok, rest = b[:i], b[min(i+1, len(b)):]
	for len(tok) > 0 && (tok[0] == ' ' || tok[0] == '\t') {
		tok = tok[1:]
	}
	for len(tok) > 0 && (tok[len(tok)-1] == ' ' || tok[len(tok)-1] == '\t') {
		tok = tok[:len(tok)-1]
	}
	return tok, rest
}
