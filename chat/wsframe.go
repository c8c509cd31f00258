package chat

import (
	"fmt"
	"io"
	"sync"

	"github.com/edge-server/edge/internal/wsproto"
)

// A small RFC 6455 frame codec for the server side of an upgraded connection. The
// handshake is done by fasthttp/websocket's FastHTTPUpgrader; frames are read and written
// here so that an idle connection holds no buffers at all (see docs/chat-protocol.md,
// "Memory").

const (
	opCont   = wsproto.OpContinuation
	opText   = wsproto.OpText
	opBinary = wsproto.OpBinary
	opClose  = wsproto.OpClose
	opPing   = wsproto.OpPing
	opPong   = wsproto.OpPong

	maxControlPayload = wsproto.MaxControlPayload
)

// closeError ends a connection with a close code.
type closeError struct {
	code   int
	reason string
}

func (e *closeError) Error() string { return fmt.Sprintf("websocket close %d: %s", e.code, e.reason) }

func protocolError(reason string) error { return &closeError{code: CloseProtocol, reason: reason} }

// frameHeader is what readFrameRest learns from the first two bytes and the extended length.
type frame struct {
	fin     bool
	op      byte
	payload []byte // owned by the caller's buffer pool when op is a data frame
	pooled  *[]byte
}

// readFrame reads one complete client frame from r: header, mask and payload. Payloads
// longer than limit are refused with 1009 before they are read.
func readFrame(r io.Reader, hdr *[8]byte, limit int) (frame, error) {
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		return frame{}, err
	}
	return readFrameRest(r, hdr, limit)
}

// readFrameRest reads the rest of a frame whose first two bytes are in hdr[0:2].
func readFrameRest(r io.Reader, hdr *[8]byte, limit int) (frame, error) {
	b0, b1 := hdr[0], hdr[1]
	f := frame{fin: b0&0x80 != 0, op: b0 & 0x0f}
	if b0&0x70 != 0 {
		return frame{}, protocolError("reserved bits set")
	}
	switch f.op {
	case opCont, opText, opBinary:
	case opClose, opPing, opPong:
		if !f.fin {
			return frame{}, protocolError("fragmented control frame")
		}
	default:
		return frame{}, protocolError("unknown opcode")
	}
	if b1&0x80 == 0 {
		return frame{}, protocolError("client frames must be masked")
	}
	ext := hdr[:wsproto.ExtLenBytes(b1)]
	if _, err := io.ReadFull(r, ext); err != nil {
		return frame{}, err
	}
	n := wsproto.PayloadLen(b1, ext)
	if !wsproto.ValidLen(n) {
		return frame{}, protocolError("invalid payload length")
	}
	if f.op >= opClose && n > maxControlPayload {
		return frame{}, protocolError("control frame payload over 125 bytes")
	}
	if n > uint64(limit) {
		return frame{}, &closeError{code: CloseTooBig, reason: fmt.Sprintf("message over %d bytes", limit)}
	}
	var mask [4]byte
	if _, err := io.ReadFull(r, mask[:]); err != nil {
		return frame{}, err
	}
	f.pooled = getBuf(int(n))
	f.payload = (*f.pooled)[:n]
	if _, err := io.ReadFull(r, f.payload); err != nil {
		putBuf(f.pooled)
		return frame{}, err
	}
	for i := range f.payload {
		f.payload[i] ^= mask[i&3]
	}
	return f, nil
}

// appendFrame appends a server (unmasked, final) frame with the given opcode and payload.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	return wsproto.AppendFrame(dst, op, payload)
}

// maxServerHeader is the longest header of a frame edge sends: unmasked, with a
// 64-bit length.
const maxServerHeader = 10

// newTextFrame starts a text frame built in place, in one allocation (the frames of
// every message and ack): append the payload to what it returns, then sealTextFrame.
func newTextFrame(payloadCap int) []byte {
	return make([]byte, maxServerHeader, maxServerHeader+payloadCap)
}

// sealTextFrame writes the header just before the payload appended to b (which came
// from newTextFrame) and returns the whole frame.
func sealTextFrame(b []byte) []byte {
	var h [maxServerHeader]byte
	hdr := wsproto.AppendHeader(h[:0], opText, len(b)-maxServerHeader, nil)
	start := maxServerHeader - len(hdr)
	copy(b[start:], hdr)
	return b[start:]
}

func textFrame(payload []byte) []byte {
	return appendFrame(make([]byte, 0, len(payload)+10), opText, payload)
}

// closeFrame builds a close frame with a code and a reason (cut to fit 125 bytes).
func closeFrame(code int, reason string) []byte {
	return wsproto.AppendClose(make([]byte, 0, 2+maxControlPayload), uint16(code), reason, nil)
}

var pingFrame = appendFrame(nil, opPing, nil)

// Payload buffers come from size-classed pools so that idle connections hold none.
var bufPools = [...]struct {
	size int
	pool sync.Pool
}{{size: 256}, {size: 2048}, {size: 16 << 10}}

func getBuf(n int) *[]byte {
	for i := range bufPools {
		p := &bufPools[i]
		if n <= p.size {
			if b, ok := p.pool.Get().(*[]byte); ok {
				return b
			}
			b := make([]byte, p.size)
			return &b
		}
	}
	b := make([]byte, n)
	return &b
}

func putBuf(b *[]byte) {
	if b == nil {
		return
	}
	for i := range bufPools {
		if cap(*b) == bufPools[i].size {
			*b = (*b)[:cap(*b)]
			bufPools[i].pool.Put(b)
			return
		}
	}
}
