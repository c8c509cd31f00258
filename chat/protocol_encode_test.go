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
	})
}
