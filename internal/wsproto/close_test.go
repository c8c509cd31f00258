package wsproto

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseClose(t *testing.T) {
	payload := func(code uint16, reason string) []byte { return AppendClosePayload(nil, code, reason) }
	cases := []struct {
		name  string
		p     []byte
		err   error
		reply uint16
	}{
		{"empty", nil, nil, CloseNormal},
		{"1000", payload(1000, "bye"), nil, 1000},
		{"1001", payload(1001, ""), nil, 1001},
		{"1003", payload(1003, ""), nil, 1003},
		{"1007", payload(1007, ""), nil, 1007},
		{"1014", payload(1014, ""), nil, 1014},
		{"3000", payload(3000, ""), nil, 3000},
		{"4999", payload(4999, "x"), nil, 4999},
		{"1 byte", []byte{0x03}, ErrCloseTruncated, CloseProtocolError},
		{"0", payload(0, ""), ErrCloseCode, CloseProtocolError},
		{"999", payload(999, ""), ErrCloseCode, CloseProtocolError},
		{"1004", payload(1004, ""), ErrCloseCode, CloseProtocolError},
		{"1005", payload(1005, ""), ErrCloseCode, CloseProtocolError},
		{"1006", payload(1006, ""), ErrCloseCode, CloseProtocolError},
		{"1015", payload(1015, ""), ErrCloseCode, CloseProtocolError},
		{"1016", payload(1016, ""), ErrCloseCode, CloseProtocolError},
		{"2999", payload(2999, ""), ErrCloseCode, CloseProtocolError},
		{"5000", payload(5000, ""), ErrCloseCode, CloseProtocolError},
		{"65535", payload(65535, ""), ErrCloseCode, CloseProtocolError},
		{"bad utf-8", append(payload(1000, ""), 0xff, 0xfe), ErrCloseReasonUTF8, CloseProtocolError},
		{"surrogate", append(payload(1000, ""), 0xed, 0xa0, 0x80), ErrCloseReasonUTF8, CloseProtocolError},
		{"126 bytes", append(payload(1000, ""), bytes.Repeat([]byte{'a'}, 124)...), ErrCloseTooLong, CloseProtocolError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := ParseClose(tc.p); err != tc.err {
				t.Fatalf("ParseClose error %v, want %v", err, tc.err)
			}
			if got := CloseReply(tc.p); got != tc.reply {
				t.Fatalf("CloseReply %d, want %d", got, tc.reply)
			}
		})
	}
}

func TestCloseReasonCutAtRuneBoundary(t *testing.T) {
	reason := strings.Repeat("한", 60) // 180 bytes
	p := AppendClosePayload(nil, 1001, reason)
	if len(p) > MaxControlPayload {
		t.Fatalf("payload %d bytes", len(p))
	}
	code, got, err := ParseClose(p)
	if err != nil || code != 1001 || !strings.HasPrefix(reason, got) || len(got) != 123 {
		t.Fatalf("got %d %q %v", code, got, err)
	}
}

func TestFrames(t *testing.T) {
	for _, n := range []int{0, 125, 126, 0xffff, 0x10000} {
		f := AppendFrame(nil, OpBinary, make([]byte, n))
		ext := ExtLenBytes(f[1])
		if got := PayloadLen(f[1], f[2:2+ext]); got != uint64(n) || len(f) != 2+ext+n {
			t.Fatalf("n=%d: decoded %d, frame %d bytes", n, got, len(f))
		}
	}
	key := [4]byte{1, 2, 3, 4}
	f := AppendClose(nil, 1001, "bye", &key)
	if f[0] != 0x88 || f[1] != 0x80|5 {
		t.Fatalf("masked close header % x", f[:2])
	}
	p := f[6:]
	for i := range p {
		p[i] ^= key[i&3]
	}
	if code, reason, err := ParseClose(p); code != 1001 || reason != "bye" || err != nil {
		t.Fatalf("masked close decoded %d %q %v", code, reason, err)
	}
	if ValidLen(1 << 63) {
		t.Fatal("2^63 length accepted")
	}
}

// FuzzCloseRoundTrip: for a valid code and reason, parse(encode(code, reason)) is the
// identity (the reason cut to fit at a rune boundary); for an invalid code the parse is a
// protocol error and the reply is 1002.
func FuzzCloseRoundTrip(f *testing.F) {
	f.Add(uint16(1000), "")
	f.Add(uint16(1005), "x")
	f.Add(uint16(4001), "unauthorized")
	f.Add(uint16(3000), strings.Repeat("é", 70))
	f.Fuzz(func(t *testing.T, code uint16, reason string) {
		p := AppendClosePayload(nil, code, reason)
		if len(p) > MaxControlPayload {
			t.Fatalf("close payload %d bytes", len(p))
		}
		gotCode, gotReason, err := ParseClose(p)
		switch {
		case !ValidCloseCode(code):
			if err == nil || CloseReply(p) != CloseProtocolError {
				t.Fatalf("invalid code %d parsed: %v, reply %d", code, err, CloseReply(p))
			}
		case !utf8.ValidString(reason):
			if err == nil && !utf8.ValidString(gotReason) {
				t.Fatal("invalid reason accepted")
			}
		default:
			want := cutReason(reason)
			if err != nil || gotCode != code || gotReason != want {
				t.Fatalf("round trip (%d,%q) -> (%d,%q,%v)", code, want, gotCode, gotReason, err)
			}
		}
	})
}

// FuzzParseClose: any received payload either parses to a wire-valid code and a UTF-8
// reason that re-encode to the same bytes, or is a protocol error answered with 1002.
// The reply is never a code that must not be sent.
func FuzzParseClose(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x03})
	f.Add([]byte{0x03, 0xed})
	f.Add([]byte{0x03, 0xe8, 'o', 'k'})
	f.Add([]byte{0x03, 0xe8, 0xff})
	f.Add([]byte{0x13, 0x88})
	f.Fuzz(func(t *testing.T, p []byte) {
		reply := CloseReply(p)
		if !ValidCloseCode(reply) {
			t.Fatalf("reply %d must not be sent", reply)
		}
		code, reason, err := ParseClose(p)
		if err != nil {
			if reply != CloseProtocolError {
				t.Fatalf("malformed payload answered %d", reply)
			}
			return
		}
		if len(p) == 0 {
			if code != CloseNoStatus || reply != CloseNormal {
				t.Fatalf("empty payload: %d, reply %d", code, reply)
			}
			return
		}
		if !ValidCloseCode(code) || !utf8.ValidString(reason) || reply != code {
			t.Fatalf("accepted %d %q, reply %d", code, reason, reply)
		}
		if again := AppendClosePayload(nil, code, reason); !bytes.Equal(again, p) {
			t.Fatalf("re-encode % x != % x", again, p)
		}
	})
}
