package proxy

import (
	"encoding/binary"
	"math/rand/v2"

	"github.com/edge-server/edge/internal/wsproto"
)

// frameTracker follows WebSocket frame boundaries in a relayed byte stream without
// buffering it, so a close frame can be injected between two frames, never inside
// one. It reads only frame headers; payloads are skipped by length.
type frameTracker struct {
	hdr       [14]byte
	hn        int    // header bytes collected for the current frame
	need      int    // header length, known once the second byte arrived
	payload   uint64 // payload bytes left in the current frame
	inPayload bool
}

// atBoundary reports whether the stream is between two frames.
func (t *frameTracker) atBoundary() bool { return t.hn == 0 && !t.inPayload }

// next consumes bytes of the current frame from p. It returns how many it consumed
// and whether the frame ended at p[n-1]; when it did not, n == len(p).
func (t *frameTracker) next(p []byte) (n int, ended bool) {
	for n < len(p) {
		if !t.inPayload {
			if t.hn == 0 {
				t.need = 2
			}
			t.hdr[t.hn] = p[n]
			t.hn++
			n++
			if t.hn == 2 {
				t.need = 2 + wsproto.ExtLenBytes(t.hdr[1])
				if t.hdr[1]&0x80 != 0 {
					t.need += 4
				}
			}
			if t.hn < t.need {
				continue
			}
			t.payload = t.payloadLen()
			t.hn = 0
			if t.payload == 0 {
				return n, true
			}
			t.inPayload = true
			continue
		}
		take := uint64(len(p) - n)
		if take > t.payload {
			take = t.payload
		}
		n += int(take)
		t.payload -= take
		if t.payload == 0 {
			t.inPayload = false
			return n, true
		}
	}
	return n, false
}

func (t *frameTracker) payloadLen() uint64 {
	return wsproto.PayloadLen(t.hdr[1], t.hdr[2:t.need])
}

// feed consumes all of p.
func (t *frameTracker) feed(p []byte) {
	for len(p) > 0 {
		n, _ := t.next(p)
		p = p[n:]
	}
}

// WebSocket close status used when edge ends a proxied connection (RFC 6455 7.4.1).
const closeGoingAway = 1001

// closeFrame builds a close frame with a status code and a short reason (cut to fit).
// Frames to a server must be masked; frames to a client must not.
func closeFrame(code uint16, reason string, masked bool) []byte {
	if !masked {
		return wsproto.AppendClose(nil, code, reason, nil)
	}
	var key [4]byte
	binary.BigEndian.PutUint32(key[:], rand.Uint32())
	return wsproto.AppendClose(nil, code, reason, &key)
}
