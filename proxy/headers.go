package proxy

import (
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

// setForwarded adds the X-Forwarded-* and X-Real-IP headers. X-Forwarded-For is
// appended to; the others are overwritten, since only edge knows their truth.
func setForwarded(h *fasthttp.RequestHeader, remote net.Addr, isTLS bool) {
	var ipBuf [64]byte
	ip := appendIP(ipBuf[:0], remote)
	var xff [256]byte
	b := xff[:0]
	if prev := h.Peek(hdrXFF); len(prev) > 0 {
		b = append(b, prev...)
		b = append(b, ", "...)
	}
	b = append(b, ip...)
	h.SetBytesV(hdrXFF, b)
	h.SetBytesV(hdrXRealIP, ip)
	if isTLS {
		h.Set(hdrXFProto, "https")
	} else {
		h.Set(hdrXFProto, "http")
	}
	h.SetBytesV(hdrXFHost, h.Host())
}

// hopFlags marks which hop-by-hop headers a message carries.
type hopFlags uint8

const (
	hopConnection hopFlags = 1 << iota
	hopKeepAlive
	hopTE
	hopTrailer
	hopTransferEncoding
	hopUpgrade
	hopProxy
	hopExpect // not hop-by-hop by name, but edge already answered it and read the body
)

var hopNames = [...]struct {
	flag hopFlags
	name string
}{
	{hopKeepAlive, "Keep-Alive"}, {hopTE, "Te"}, {hopTrailer, "Trailer"},
	{hopTransferEncoding, "Transfer-Encoding"}, {hopUpgrade, "Upgrade"}, {hopExpect, "Expect"},
}

func hopFlag(k []byte) hopFlags {
	switch len(k) {
	case 2:
		if caseEq(k, "te") {
			return hopTE
		}
	case 6:
		if caseEq(k, "expect") {
			return hopExpect
		}
	case 7:
		if caseEq(k, "upgrade") {
			return hopUpgrade
		}
		if caseEq(k, "trailer") {
			return hopTrailer
		}
	case 10:
		if caseEq(k, "connection") {
			return hopConnection
		}
		if caseEq(k, "keep-alive") {
			return hopKeepAlive
		}
	case 17:
		if caseEq(k, "transfer-encoding") {
			return hopTransferEncoding
		}
	}
	if len(k) > 6 && caseEq(k[:6], "proxy-") {
		return hopProxy
	}
	return 0
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

// nameList holds header names without allocating (up to 24 of up to 48 bytes;
// longer ones, which only hostile clients send, are allocated).
type nameList struct {
	n    int
	buf  [24][48]byte
	lens [24]int
	long [][]byte
	full bool // names were dropped; the caller scans again after deleting these
}

func (l *nameList) add(k []byte) {
	switch {
	case len(k) > len(l.buf[0]):
		l.long = append(l.long, append([]byte(nil), k...))
	case l.n < len(l.buf):
		l.lens[l.n] = copy(l.buf[l.n][:], k)
		l.n++
	default:
		l.full = true
	}
}

func (l *nameList) addString(k string) {
	if l.n < len(l.buf) {
		l.lens[l.n] = copy(l.buf[l.n][:], k)
		l.n++
	}
}

func (l *nameList) at(i int) []byte { return l.buf[i][:l.lens[i]] }

// hopScan finds the hop-by-hop headers of a message in one pass and plans their
// removal: Connection and the headers it names, Keep-Alive, TE, Trailer,
// Transfer-Encoding, Upgrade and Proxy-*. With keepUpgrade (a WebSocket handshake)
// Upgrade stays. It works on concrete header types so nothing escapes to the heap.
type hopScan struct {
	flags     hopFlags
	del       nameList
	closeSeen bool // Connection listed "close"
}

func (st *hopScan) see(k []byte) {
	f := hopFlag(k)
	st.flags |= f
	if f == hopProxy {
		st.del.add(k)
	}
}

// plan adds the fixed names and the tokens of the Connection header to st.del.
func (st *hopScan) plan(conn []byte, keepUpgrade bool) {
	if st.flags&hopConnection != 0 {
		for len(conn) > 0 {
			var tok []byte
			tok, conn = nextToken(conn)
			if caseEq(tok, "close") {
				st.closeSeen = true
				continue
			}
			if len(tok) == 0 || caseEq(tok, "keep-alive") || caseEq(tok, "upgrade") || hopFlag(tok) != 0 {
				continue
			}
			st.del.add(tok)
		}
		st.del.addString("Connection")
	}
	for _, hn := range hopNames {
		if st.flags&hn.flag != 0 && !(keepUpgrade && hn.flag == hopUpgrade) {
			st.del.addString(hn.name)
		}
	}
}

// stripRequestHopByHop cleans a request header before it goes upstream. It reports
// whether the client's Connection header asked to close (fasthttp only notices a
// bare "close", not one inside a list).
func stripRequestHopByHop(h *fasthttp.RequestHeader, keepUpgrade bool) (closeAsked bool) {
	for { // a hostile client may send more names than one pass remembers
		var st hopScan
		for k := range h.All() {
			st.see(k)
		}
		if st.flags == 0 {
			break
		}
		st.plan(h.Peek("Connection"), keepUpgrade)
		for i := range st.del.n {
			h.DelBytes(st.del.at(i))
		}
		for _, k := range st.del.long {
			h.DelBytes(k)
		}
		closeAsked = closeAsked || st.closeSeen
		if !st.del.full {
			break
		}
	}
	if keepUpgrade {
		h.Set("Connection", "Upgrade")
	}
	return closeAsked
}

// stripResponseHopByHop cleans an upstream response header before it goes back.
func stripResponseHopByHop(h *fasthttp.ResponseHeader) {
	for {
		var st hopScan
		for k := range h.All() {
			st.see(k)
		}
		if st.flags == 0 {
			break
		}
		st.plan(h.Peek("Connection"), false)
		for i := range st.del.n {
			h.DelBytes(st.del.at(i))
		}
		for _, k := range st.del.long {
			h.DelBytes(k)
		}
		if !st.del.full {
			break
		}
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
