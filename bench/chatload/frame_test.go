package main

import (
	"encoding/json"
	"fmt"
	"testing"
)

// The fast path must give exactly what encoding/json gives for every message frame
// in edge's shape, whatever its strings hold, and decline anything it cannot read.
func FuzzFastFrameAgreesWithJSON(f *testing.F) {
	f.Add("room-1", "Blue Fox", "chatload 1764600000000000000 3-4", "run.3.4.1764600000000000000")
	f.Add(`r","content":"chatload 5 x`, `n\"content\":\"chatload 7 y`, "chatload 9 \"quoted\"", "c")
	f.Add("r", "n", "chatload 12 a\\b", "c")
	f.Add("r", "n", "chatload 0 zero", "c")
	f.Add("r", "n", "chatload 99999999999999999999 big", "c")
	f.Add("r", "n", "chatload 9223372036854775807 max", "c")
	f.Add("r", "n", "chatload 9223372036854775808 over", "c")
	f.Add("r", "n", "hello chatload 5 x", "c")
	f.Add("r", "n", "chatload 5 <script>&", "c")
	f.Fuzz(func(t *testing.T, room, nick, content, clientID string) {
		data, err := json.Marshal(edgeMessageFrame(7, room, nick, content, clientID))
		if err != nil {
			t.Skip() // not a frame edge could send
		}
		checkAgrees(t, data)
	})
}

func checkAgrees(t *testing.T, data []byte) {
	t.Helper()
	var want frame
	wantErr := json.Unmarshal(data, &want)
	wantTS, wantOK := want.sendTime()
	var got frame
	gotErr := parseFrame(data, &got)
	gotTS, gotOK := got.sendTime()
	if (gotErr == nil) != (wantErr == nil) || got.Type != want.Type || gotOK != wantOK || gotTS != wantTS {
		t.Fatalf("%s: parseFrame gave %q %d %v (%v), encoding/json %q %d %v (%v)",
			data, got.Type, gotTS, gotOK, gotErr, want.Type, wantTS, wantOK, wantErr)
	}
}

func TestFastFrameTable(t *testing.T) {
	frames := []string{
		`{"type":"message","room":"r","message":{"id":1,"content":"chatload 42 1-1","client_id":"x"}}`,
		`{"type":"message","room":"r","message":{"id":1,"content":"chatload 42"}}`,
		`{"type":"message","room":"r","message":{"id":1,"content":"chatload x 1"}}`,
		`{"type":"message","room":"r","message":{"id":1,"content":"chatload 42 a\"b"}}`,
		`{"type":"message","room":"r","message":{"id":1,"content":"chatload 42 a`,
		`{"type":"message","room":"r"}`,
		`{"type":"ack","client_id":"run.1.2.999","id":3}`,
		`{"type":"presence","room":"r","online":3}`,
		`{"type":"message","message":{"content":"chatload notanumber"}}`,
		`{not json`,
	}
	for _, s := range frames {
		t.Run(s, func(t *testing.T) { checkAgrees(t, []byte(s)) })
	}
	var f frame
	if !fastMessage([]byte(frames[0]), &f) || f.stamp != 42 {
		t.Fatalf("edge's shape was not read by the fast path: %+v", f)
	}
	// a real stamp (19 digits) in the frame edge sends takes the fast path
	data, _ := json.Marshal(edgeMessageFrame(7, "bench-abc-0", "Blue Fox", "chatload 1764600000000000000 3-4", "run.3.4.1"))
	if !fastMessage(data, &f) || f.stamp != 1764600000000000000 {
		t.Fatalf("%s was not read by the fast path: %+v", data, f)
	}
}

func BenchmarkParseFrame(b *testing.B) {
	data, _ := json.Marshal(edgeMessageFrame(7, "bench-abc-0", "Blue Fox", fmt.Sprintf("chatload %d 3-4", int64(1764600000000000000)), "run.3.4.1"))
	b.ReportAllocs()
	for b.Loop() {
		var f frame
		if parseFrame(data, &f) != nil || f.stamp == 0 {
			b.Fatal("not parsed")
		}
	}
}
