package proxy

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// frame builds a WebSocket frame with the given payload length.
func frame(n int, masked bool) []byte {
	f := []byte{0x82}
	m := byte(0)
	if masked {
		m = 0x80
	}
	switch {
	case n < 126:
		f = append(f, m|byte(n))
	case n < 1<<16:
		f = append(f, m|126, 0, 0)
		binary.BigEndian.PutUint16(f[2:], uint16(n))
	default:
		f = append(f, m|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	if masked {
		f = append(f, 1, 2, 3, 4)
	}
	return append(f, bytes.Repeat([]byte{'p'}, n)...)
}

// boundaries feeds data in chunks of size step and returns the stream offsets at
// which frames ended.
func boundaries(data []byte, step int) []int {
	var t frameTracker
	var out []int
	pos := 0
	for pos < len(data) {
		chunk := data[pos:min(pos+step, len(data))]
		for len(chunk) > 0 {
			n, ended := t.next(chunk)
			pos += n
			chunk = chunk[n:]
			if ended {
				out = append(out, pos)
			}
		}
	}
	return out
}

func TestFrameTracker(t *testing.T) {
	var stream []byte
	var want []int
	for _, f := range [][]byte{frame(0, false), frame(5, true), frame(125, false), frame(126, true), frame(70000, false), frame(3, true)} {
		stream = append(stream, f...)
		want = append(want, len(stream))
	}
	for _, step := range []int{1, 2, 3, 7, 100, 4096, len(stream)} {
		got := boundaries(stream, step)
		if len(got) != len(want) {
			t.Fatalf("step %d: boundaries %v, want %v", step, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("step %d: boundaries %v, want %v", step, got, want)
			}
		}
	}
	var tr frameTracker
	tr.feed(stream[:3])
	if tr.atBoundary() {
		t.Fatal("mid-frame reported as a boundary")
	}
	tr.feed(stream[3:])
	if !tr.atBoundary() {
		t.Fatal("end of stream not a boundary")
	}
}

func TestCloseFrame(t *testing.T) {
	f := closeFrame(closeGoingAway, "bye", false)
	if !bytes.Equal(f, []byte{0x88, 5, 0x03, 0xe9, 'b', 'y', 'e'}) {
		t.Fatalf("unmasked %x", f)
	}
	m := closeFrame(closeGoingAway, "bye", true)
	if m[0] != 0x88 || m[1] != 0x85 || len(m) != 2+4+5 {
		t.Fatalf("masked %x", m)
	}
	key := m[2:6]
	for i, b := range m[6:] {
		if b^key[i%4] != f[2+i] {
			t.Fatalf("masked payload %x", m)
		}
	}
	if long := closeFrame(closeGoingAway, string(bytes.Repeat([]byte("r"), 300)), false); long[1] != 125 {
		t.Fatalf("control frame payload %d > 125", long[1])
	}
}

// FuzzFrameTracker checks that boundaries do not depend on how the stream is split
// and that the tracker never panics on garbage.
func FuzzFrameTracker(f *testing.F) {
	f.Add(append(frame(3, true), frame(200, false)...), uint8(1))
	f.Add([]byte{0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint8(3))
	f.Add([]byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		whole := boundaries(data, len(data)+1)
		split := boundaries(data, int(step)+1)
		if len(whole) != len(split) {
			t.Fatalf("boundaries differ: %v vs %v", whole, split)
		}
		for i := range whole {
			if whole[i] != split[i] || whole[i] > len(data) {
				t.Fatalf("boundaries differ: %v vs %v", whole, split)
			}
		}
	})
}
