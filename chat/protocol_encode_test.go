package chat

import (
	"encoding/json"
	"testing"
	"time"
)

// The fast message frame is byte for byte encoding/json's, or declines.
func FuzzMessageFrameAgreesWithJSON(f *testing.F) {
	f.Add(int64(7), "lobby", "u1", "Ann", "a01", "hello", int64(1764604800), int64(123456000), "c1", false, "")
	f.Add(int64(-1), "", "", "", "", "", int64(0), int64(0), "", true, "")
	f.Add(int64(1), "<r&>", "\"\\", "\b\f\n\r\t\x00\x1f\x7f", "\u2028\u2029", "é 😀 \xff\xfe bad", int64(-62135596800), int64(1), "k", false, "")
	f.Add(int64(1), "r", "s", "n", "a", "c", int64(1764604800), int64(1), "k", false, "Europe/Berlin")
	f.Add(int64(1), "r", "s", "n", "a", "c", int64(253402300800), int64(0), "k", false, "")
	f.Fuzz(func(t *testing.T, id int64, room, sender, nick, avatar, content string, sec, nsec int64, client string, deleted bool, zone string) {
		tm := time.Unix(sec, nsec%1e9).UTC()
		if zone != "" {
			if loc, err := time.LoadLocation(zone); err == nil {
				tm = tm.In(loc)
			}
		}
		m := Message{ID: id, Room: room, SenderID: sender, Nickname: nick, Avatar: avatar, Content: content,
			CreatedAt: tm, ClientID: client, Deleted: deleted}
		want, err := json.Marshal(messageFrame{Type: "message", Room: m.Room, Message: &m})
		got, ok := appendMessageFrame(nil, &m)
		if !ok {
			if tm.Location() == time.UTC && err == nil && tm.Year() >= 0 && tm.Year() <= 9999 {
				t.Fatalf("declined %+v", m)
			}
			return
		}
		if err != nil {
			t.Fatalf("encoded %+v, which encoding/json refuses: %v", m, err)
		}
		if string(got) != string(want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
		// The frame built in place is the frame of encoding/json's payload.
		if frame := messageFrameFor(&m); string(frame) != string(textFrame(want)) {
			t.Fatalf("messageFrameFor: frame\n %q\nwant\n %q", frame, textFrame(want))
		}
	})
}

// A frame built in place has the header textFrame gives the same payload, at every
// length where the header's size changes.
func TestSealTextFrameMatchesTextFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte('a' + i%26)
		}
		for _, spare := range []int{0, n, 3} { // exact, roomy and too small (regrown) buffers
			got := sealTextFrame(append(newTextFrame(spare), payload...))
			if want := textFrame(payload); string(got) != string(want) {
				t.Fatalf("%d-byte payload, %d bytes reserved: header % x, want % x", n, spare, got[:min(10, len(got))], want[:min(10, len(want))])
			}
		}
	}
}

// The frames of every message and ack are built in one allocation each, and a
// client's send frame is decoded into the strings it holds and nothing else.
func TestHotFramesAllocateOnce(t *testing.T) {
	m := Message{ID: 123456789, Room: "lobby-with-a-longer-name", SenderID: "u_3f2a9c1d0e8b7a6f5c4d3e2f",
		Nickname: "Quiet Otter from the Hills", Avatar: "/chat/avatars/3f2a9c1d0e8b7a6f.svg",
		Content:   "a plain message of some length, as people write them in a chat room",
		CreatedAt: time.Date(2026, 12, 1, 20, 0, 0, 123456789, time.UTC), ClientID: "c-1764619200123456789-42"}
	if n := testing.AllocsPerRun(200, func() { _ = messageFrameFor(&m) }); n != 1 {
		t.Errorf("messageFrameFor: %v allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(200, func() { _ = ackFrameFor(m.ClientID, m.ID) }); n != 1 {
		t.Errorf("ackFrameFor: %v allocations, want 1", n)
	}
	send := []byte(`{"type":"send","room":"lobby","content":"hello there","client_id":"c-17646192001-42"}`)
	if n := testing.AllocsPerRun(200, func() { _, _ = decodeClientFrame(send) }); n != 3 {
		t.Errorf("decodeClientFrame: %v allocations, want 3 (room, content, client_id)", n)
	}
}
