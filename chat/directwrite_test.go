package chat_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/chat/chattest"
)

// A peer that stops reading while a room floods it: frames are written directly until
// its socket is full, so one of them ends half-written and the rest of it goes to the
// writer goroutine. Whatever happens next (slow-consumer close), every byte the peer
// finally reads must be whole frames: valid JSON text frames, then a 1013 close frame,
// then nothing.
func TestStalledPeerGetsWholeFramesThenTryAgainClose(t *testing.T) {
	srv := chattest.Start(t, chat.Config{MessageRate: 1e6, MessageBurst: 1e6, SendQueueFrames: 16, SendQueueBytes: 1 << 20,
		WriteTimeout: 30 * time.Second}, nil)
	token, _ := newSession(t, srv, anon("stalled"))
	stalled, br := rawConn(t, srv, token)
	// Default socket buffers: a tiny receive buffer makes loopback TCP stall for
	// seconds in zero-window probes once the peer reads again.
	join := []byte(`{"type":"join","room":"burst"}`)
	if _, err := stalled.Write(append([]byte{0x81, 0x80 | byte(len(join)), 0, 0, 0, 0}, join...)); err != nil {
		t.Fatal(err)
	}
	sender := connect(t, srv, anon("burster"))
	sender.join("burst", nil)
	time.Sleep(200 * time.Millisecond) // the stalled peer's join is done
	for i := range 1200 {
		// Odd sizes, so the socket fills in the middle of a frame.
		sender.say("burst", fmt.Sprintf("b%d", i), strings.Repeat("무", 1500+(i%71)*7))
		for f := sender.next(); f.Type != "ack"; f = sender.next() {
		}
	}
	_ = stalled.SetReadDeadline(time.Now().Add(waitLong))
	data, err := io.ReadAll(br)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		defer func() { t.Fatalf("stalled peer still connected after reading %d bytes", len(data)) }()
	}
	frames, closeCode := 0, -1
	for len(data) > 0 {
		if closeCode >= 0 {
			t.Fatalf("%d bytes after the close frame", len(data))
		}
		if len(data) < 2 {
			t.Fatalf("truncated frame header after %d frames", frames)
		}
		b0, b1 := data[0], data[1]
		if b0&0x80 == 0 || b0&0x70 != 0 || b1&0x80 != 0 {
			t.Fatalf("frame %d: bad header %#x %#x (stream corrupted)", frames, b0, b1)
		}
		n, hl := uint64(b1&0x7f), 2
		switch n {
		case 126:
			n, hl = uint64(binary.BigEndian.Uint16(data[2:4])), 4
		case 127:
			n, hl = binary.BigEndian.Uint64(data[2:10]), 10
		}
		if uint64(len(data)-hl) < n {
			t.Fatalf("frame %d: %d payload bytes of %d (truncated)", frames, len(data)-hl, n)
		}
		payload := data[hl : hl+int(n)]
		data = data[hl+int(n):]
		frames++
		switch b0 & 0x0f {
		case 0x1:
			if !json.Valid(payload) {
				t.Fatalf("frame %d: text frame is not JSON: %.60q", frames, payload)
			}
		case 0x8:
			closeCode = int(binary.BigEndian.Uint16(payload))
		case 0x9:
		default:
			t.Fatalf("frame %d: opcode %#x", frames, b0&0x0f)
		}
	}
	if closeCode != chat.CloseTryAgain {
		t.Fatalf("after %d whole frames: close code %d, want %d (slow consumer)", frames, closeCode, chat.CloseTryAgain)
	}
}
