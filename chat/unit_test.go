package chat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// clientFrameBytes builds a masked client frame.
func clientFrameBytes(fin bool, op byte, payload []byte, mask [4]byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	n := len(payload)
	switch {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n <= 0xffff:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	out = append(out, mask[:]...)
	for i, c := range payload {
		out = append(out, c^mask[i&3])
	}
	return out
}

func TestReadFrame(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	for _, n := range []int{0, 1, 125, 126, 127, 4000, 65535, 65536, 70000} {
		p := bytes.Repeat([]byte{'x'}, n)
		var hdr [8]byte
		f, err := readFrame(bytes.NewReader(clientFrameBytes(true, opText, p, mask)), &hdr, 1<<20)
		if err != nil || !f.fin || f.op != opText || !bytes.Equal(f.payload, p) {
			t.Fatalf("n=%d: %v %v %d", n, err, f.fin, len(f.payload))
		}
		putBuf(f.pooled)
	}
	bad := map[string]struct {
		b    []byte
		code int
	}{
		"unmasked":        {[]byte{0x81, 0x00}, CloseProtocol},
		"rsv":             {[]byte{0x91, 0x80}, CloseProtocol},
		"opcode 3":        {[]byte{0x83, 0x80}, CloseProtocol},
		"fragmented ping": {[]byte{0x09, 0x80}, CloseProtocol},
		"long close":      {[]byte{0x88, 0xFE, 0, 126}, CloseProtocol},
		"msb length":      {append([]byte{0x81, 0xFF}, 0x80, 0, 0, 0, 0, 0, 0, 1), CloseProtocol},
		"over limit":      {[]byte{0x81, 0xFE, 0x10, 0x00}, CloseTooBig},
	}
	for name, tc := range bad {
		var hdr [8]byte
		_, err := readFrame(bytes.NewReader(tc.b), &hdr, 1024)
		var ce *closeError
		if !errors.As(err, &ce) || ce.code != tc.code {
			t.Errorf("%s: %v, want close %d", name, err, tc.code)
		}
	}
	var hdr [8]byte
	if _, err := readFrame(bytes.NewReader([]byte{0x81, 0x85, 1, 2}), &hdr, 1024); err == nil {
		t.Error("truncated frame accepted")
	}
}

func TestServerFrames(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		f := appendFrame(nil, opText, make([]byte, n))
		if f[0] != 0x81 || len(f) < n+2 {
			t.Fatalf("n=%d: header %x", n, f[:2])
		}
	}
	c := closeFrame(CloseGoingAway, strings.Repeat("r", 300))
	if len(c) != 2+maxControlPayload || binary.BigEndian.Uint16(c[2:]) != CloseGoingAway {
		t.Fatalf("close frame %d bytes", len(c))
	}
}

func FuzzReadFrame(f *testing.F) {
	mask := [4]byte{9, 8, 7, 6}
	f.Add(clientFrameBytes(true, opText, []byte(`{"type":"join","room":"a"}`), mask))
	f.Add(clientFrameBytes(false, opText, []byte("ab"), mask))
	f.Add(clientFrameBytes(true, opPing, []byte("p"), mask))
	f.Add([]byte{0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x81, 0x7E, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var hdr [8]byte
		fr, err := readFrame(bytes.NewReader(data), &hdr, 512)
		if err != nil {
			return
		}
		if len(fr.payload) > 512 || (fr.op >= opClose && len(fr.payload) > maxControlPayload) {
			t.Fatalf("accepted a %d-byte payload (op %x)", len(fr.payload), fr.op)
		}
		// Re-encoding what was decoded gives the same frame back.
		again := clientFrameBytes(fr.fin, fr.op, fr.payload, mask)
		var hdr2 [8]byte
		fr2, err := readFrame(bytes.NewReader(again), &hdr2, 512)
		if err != nil || !bytes.Equal(fr2.payload, fr.payload) || fr2.op != fr.op || fr2.fin != fr.fin {
			t.Fatalf("round trip failed: %v", err)
		}
		putBuf(fr.pooled)
		putBuf(fr2.pooled)
	})
}

func FuzzDecodeClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","room":"lobby","after":12}`, `{"type":"send","room":"r","content":"hi","client_id":"c1"}`,
		`{"type":"leave","room":"r"}`, `{"type":"send"}`, `[]`, `{"type":"join","room":"a","after":-1}`, `{`,
		`{"type":"send","room":"r","content":"\ud800","client_id":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, e := decodeClientFrame(data)
		if e != nil {
			if e.Code == "" || e.Message == "" {
				t.Fatalf("error without code or message: %+v", e)
			}
			return
		}
		if !validID(fr.Room) {
			t.Fatalf("accepted room %q", fr.Room)
		}
		switch fr.Type {
		case "join", "leave":
		case "send":
			if !validID(fr.ClientID) {
				t.Fatalf("accepted client_id %q", fr.ClientID)
			}
		default:
			t.Fatalf("accepted type %q", fr.Type)
		}
		if fr.After != nil && *fr.After < 0 {
			t.Fatalf("accepted after %d", *fr.After)
		}
	})
}

var testSecret = []byte("unit-test-secret-0123456789abcdef-xyz")

func TestIdentityTokens(t *testing.T) {
	id := newIdentity(testSecret, time.Hour, "ko")
	tok, u, exp, err := id.issue("0f8fad5b-d9cb-469f-a165-70867728950e", time.Now())
	if err != nil || time.Until(exp) < 59*time.Minute {
		t.Fatal(err, exp)
	}
	got, e := id.verify(tok)
	if e != nil || got != u {
		t.Fatalf("verify: %+v %v", got, e)
	}
	other := newIdentity([]byte("another-secret-0123456789abcdef-xyz"), time.Hour, "ko")
	if _, e := other.verify(tok); e == nil || e.Code != CodeUnauthorized {
		t.Fatal("token verified with the wrong key")
	}
	old, _, _, _ := id.issue("0f8fad5b-d9cb-469f-a165-70867728950e", time.Now().Add(-2*time.Hour))
	if _, e := id.verify(old); e == nil {
		t.Fatal("expired token accepted")
	}
}

func TestNicknamesArePureAndAligned(t *testing.T) {
	if len(adjectivesKO) != len(adjectivesEN) || len(animalsKO) != len(animalsEN) {
		t.Fatal("word lists are not aligned")
	}
	if adjectivesKO[0]+" "+animalsKO[0] != "총명한 고슴도치" || adjectivesEN[0]+" "+animalsEN[0] != "clever hedgehog" {
		t.Fatal("the example pair is not in the lists")
	}
	ko, en := newIdentity(testSecret, time.Hour, "ko"), newIdentity(testSecret, time.Hour, "en")
	seen := map[string]bool{}
	for i := range 200 {
		a := strings.Repeat("x", 10) + string(rune('a'+i%26)) + strings.Repeat("y", i%7) + "-anon-id"
		u1, u2, ue := ko.userFor(a), ko.userFor(a), en.userFor(a)
		if u1 != u2 || u1.ID != ue.ID || u1.Avatar != ue.Avatar {
			t.Fatalf("userFor is not a pure function of the anon id: %+v %+v %+v", u1, u2, ue)
		}
		if !validUserID(u1.ID) || len(u1.Avatar) != 3 || u1.Avatar < "a01" || u1.Avatar > "a24" {
			t.Fatalf("user %+v", u1)
		}
		seen[ue.Nickname] = true
	}
	if len(seen) < 20 {
		t.Fatalf("only %d different nicknames", len(seen))
	}
}

func FuzzVerifyToken(f *testing.F) {
	id := newIdentity(testSecret, time.Hour, "en")
	tok, u, _, _ := id.issue("0f8fad5b-d9cb-469f-a165-70867728950e", time.Now())
	f.Add(tok)
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		got, e := id.verify(s)
		if e == nil && got.ID != u.ID {
			t.Fatalf("accepted a token for %q that was never issued", got.ID)
		}
	})
}

func TestCleanContentAndIDs(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{" hi ", "hi", true}, {"a\nb", "a\nb", true}, {"", "", false}, {" \t\n", "", false},
		{strings.Repeat("가", 2000), strings.Repeat("가", 2000), true}, {strings.Repeat("가", 2001), "", false},
		{"a\x00b", "", false}, {"\xff", "", false}, {"a\u202eb", "a\u202eb", true},
		// Only invisible characters: refused like white space.
		{"\u200b", "", false}, {"\u200b\u200c\u200d", "", false}, {"\ufeff", "", false},
		{" \u202e\u202d\u2066\u2069 ", "", false}, {"\u2060\u00ad", "", false}, {"\u3164\u115f", "", false},
		{"\u00a0\u3000\u2028", "", false}, {"\ufe0f", "", false},
		// Invisible characters beside visible ones stay (emoji sequences use ZWJ and VS16).
		{"\u200bx", "\u200bx", true}, {"👩\u200d💻", "👩\u200d💻", true}, {"❤\ufe0f", "❤\ufe0f", true},
	} {
		got, e := cleanContent(tc.in, 2000)
		if (e == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("cleanContent(%q) = %q, %v", tc.in, got, e)
		}
	}
	for s, ok := range map[string]bool{"a": true, "A-z_0.9:": true, strings.Repeat("r", 64): true,
		strings.Repeat("r", 65): false, "": false, "a b": false, "한": false, "a/b": false} {
		if validID(s) != ok {
			t.Errorf("validID(%q) != %v", s, ok)
		}
	}
}

func TestTokenBucket(t *testing.T) {
	var b bucket
	now := int64(1e18)
	for i := range 5 {
		if !b.take(now, 1, 5) {
			t.Fatalf("take %d refused within burst", i)
		}
	}
	if b.take(now, 1, 5) {
		t.Fatal("take beyond burst allowed")
	}
	if !b.take(now+int64(time.Second), 1, 5) {
		t.Fatal("no refill after a second")
	}
}

func TestMemStoreEvictsOldest(t *testing.T) {
	s := newMemStore(3)
	ctx := t.Context()
	var batch []Message
	for i := range 5 {
		batch = append(batch, Message{Room: "r", SenderID: "u", ClientID: string(rune('a' + i)), Content: "x"})
	}
	if _, _, err := s.commit(ctx, 0, batch); err != nil {
		t.Fatal(err)
	}
	got, _ := s.before(ctx, "r", 0, 10)
	if len(got) != 3 || got[0].ID != 3 {
		t.Fatalf("kept %+v", got)
	}
	// An evicted client id is forgotten; a kept one is still idempotent.
	_, res, _ := s.commit(ctx, 5, []Message{{Room: "r", SenderID: "u", ClientID: "e"}})
	if !res[0].dup || res[0].msg.ID != 5 {
		t.Fatalf("resend of a kept message: %+v", res[0])
	}
}

func TestIPKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                     "192.0.2.7",
		"::ffff:192.0.2.7":              "192.0.2.7",
		"2001:db8:1:2:aaaa:bbbb:cccc:1": "2001:db8:1:2::",
		"2001:db8:1:2::ffff":            "2001:db8:1:2::",
		"2001:db8:1:3::1":               "2001:db8:1:3::",
		"fe80::1%eth0":                  "fe80::",
		"::1":                           "::",
	} {
		if got := ipKey(netip.MustParseAddr(in)); got.String() != want {
			t.Errorf("ipKey(%s) = %s, want %s", in, got, want)
		}
	}
	h := &Hub{cfg: Config{MaxConnsPerIP: 2}, perIP: map[netip.Addr]int{}}
	a, b, c := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff:2"), netip.MustParseAddr("2001:db8:0:1::1")
	if !h.acquireIP(a) || !h.acquireIP(b) || h.acquireIP(a) {
		t.Fatal("two addresses of one /64 must share its two slots")
	}
	if !h.acquireIP(c) {
		t.Fatal("another /64 has its own slots")
	}
	h.releaseIP(b)
	if !h.acquireIP(a) {
		t.Fatal("released slot not reusable")
	}
}
