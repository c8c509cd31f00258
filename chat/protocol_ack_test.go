package chat

import (
	"bytes"
	"testing"
)

// The hand-built ack frame must be byte-for-byte what encoding/json produces.
func TestAckFrameMatchesJSON(t *testing.T) {
	for _, tc := range []struct {
		clientID string
		id       int64
	}{
		{"c1", 1},
		{"abc-DEF_0.9:x", 9223372036854775807},
		{"x", 0},
		{"needs \"escaping\" <b>", 42}, // not a valid client id: falls back to encoding/json
		{"", 7},
	} {
		got := ackFrameFor(tc.clientID, tc.id)
		want := encodeFrame(ackFrame{Type: "ack", ClientID: tc.clientID, ID: tc.id})
		if !bytes.Equal(got, want) {
			t.Errorf("ackFrameFor(%q, %d) = %q, want %q", tc.clientID, tc.id, got, want)
		}
	}
}

func BenchmarkAckFrame(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = ackFrameFor("client-123456", 123456789)
	}
}
