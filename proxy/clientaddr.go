package proxy

import (
	"bytes"
	"net"
	"net/netip"

	"github.com/valyala/fasthttp"
)

// prefixList is a set of address prefixes, matched linearly: config lists are short.
type prefixList []netip.Prefix

func (l prefixList) contains(a netip.Addr) bool {
	for _, p := range l {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the TCP peer of the request, IPv4-mapped addresses unmapped.
func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if ta, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// clientAddr decides who a request is from for access rules and rate limits. It is
// the TCP peer, unless the peer is a trusted proxy: then X-Forwarded-For is read and
// the client is its rightmost address that is not itself trusted (everything left
// of that was written by the client and proves nothing). An entry that does not
// parse ends the trust there: the result is the zero Addr, which no allow list
// contains, so a garbled header fails closed.
func clientAddr(h *fasthttp.RequestHeader, peer netip.Addr, trusted prefixList) netip.Addr {
	if len(trusted) == 0 || !trusted.contains(peer) {
		return peer
	}
	var (
		candidate, first    netip.Addr
		haveCandidate, seen bool
	)
	for k, v := range h.All() {
		if !caseEq(k, "x-forwarded-for") {
			continue
		}
		for len(v) > 0 {
			var tok []byte
			tok, v = nextToken(v)
			if len(tok) == 0 {
				continue
			}
			a, ok := parseForwardedAddr(tok)
			if !seen {
				first, seen = a, true
			}
			if ok && trusted.contains(a) {
				continue
			}
			candidate, haveCandidate = a, true // untrusted, or garbage: the zero Addr
		}
	}
	switch {
	case haveCandidate:
		return candidate
	case seen: // every hop was a trusted proxy: the leftmost is where it started
		return first
	}
	return peer // a trusted proxy that sent no header is the client itself
}

// parseForwardedAddr reads one X-Forwarded-For element: an address, optionally
// with a port ("1.2.3.4:80", "[2001:db8::1]:80").
func parseForwardedAddr(tok []byte) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(string(tok)); err == nil {
		return a.Unmap(), true
	}
	if bytes.IndexByte(tok, ':') >= 0 {
		if ap, err := netip.ParseAddrPort(string(tok)); err == nil {
			return ap.Addr().Unmap(), true
		}
	}
	return netip.Addr{}, false
}
