package proxy

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// recordConn is the writer side of a wsDir in the fuzz target: it keeps what was
// written. Only the methods wsDir uses are implemented.
type recordConn struct {
	net.Conn
	out bytes.Buffer
}

func (c *recordConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *recordConn) SetWriteDeadline(time.Time) error { return nil }

// fuzzFrames turns arbitrary bytes into a stream of well-formed WebSocket frames
// (every length encoding, masked or not, including non-minimal 16- and 64-bit
// lengths) and returns the stream and the offsets where frames end.
func fuzzFrames(data []byte) (stream []byte, ends []int) {
	for len(data) > 0 {
		ctl := data[0]
		data = data[1:]
		n := int(ctl & 0x3f)
		if ctl&0x40 != 0 && len(data) > 0 { // a longer payload
			n = n<<8 | int(data[0])
			data = data[1:]
		}
		masked := ctl&0x80 != 0
		var hdr []byte
		switch {
		case n > 0xffff || (n > 125 && n%3 == 0) || (n <= 125 && n%7 == 6):
			hdr = []byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0, 0}
			binary.BigEndian.PutUint64(hdr[2:], uint64(n))
		case n > 125 || n%5 == 4:
			hdr = []byte{0x82, 126, 0, 0}
			binary.BigEndian.PutUint16(hdr[2:], uint16(n))
		default:
			hdr = []byte{0x82, byte(n)}
		}
		if masked {
			hdr[1] |= 0x80
			hdr = append(hdr, 1, 2, 3, 4)
		}
		stream = append(stream, hdr...)
		for i := range n {
			stream = append(stream, byte(i))
		}
		ends = append(ends, len(stream))
	}
	return stream, ends
}

// FuzzWSCloseInjection checks the relay's close injection on any frame stream, fed
// in any chunk size, with the close asked for at any point: what the peer receives is
// exactly the stream up to the first frame end at or after the bytes already relayed,
// then the close frame, and nothing after it. A frame is never cut, nothing is lost
// or reordered before the close, and without a close the stream passes unchanged.
func FuzzWSCloseInjection(f *testing.F) {
	f.Add([]byte{5, 0x45, 0x10, 0x8a, 0}, uint16(3), uint8(1))
	f.Add([]byte{0x7f, 0xff, 1, 2, 0xc0, 0x20}, uint16(0), uint8(7))
	f.Add([]byte{0x40, 200, 0x41, 3, 6, 4, 0}, uint16(150), uint8(64))
	f.Add([]byte{}, uint16(0), uint8(0))
	f.Add([]byte{125, 126, 127}, uint16(9999), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, closeAt uint16, chunk uint8) {
		if len(data) > 64 {
			data = data[:64]
		}
		stream, ends := fuzzFrames(data)
		step := int(chunk)%97 + 1
		close := closeFrame(closeGoingAway, reasonSwitch, false)
		rc := &recordConn{}
		d := &wsDir{w: rc, timeout: time.Second}
		asked := -1 // bytes relayed when the close was asked for
		for off := 0; off <= len(stream); off += step {
			if asked < 0 && off >= int(closeAt) {
				asked = off
				d.requestClose(close)
			}
			if off == len(stream) {
				break
			}
			if err := d.write(stream[off:min(off+step, len(stream))]); err != nil {
				t.Fatal(err)
			}
		}
		got := rc.out.Bytes()
		if asked < 0 {
			if !bytes.Equal(got, stream) || !d.t.atBoundary() {
				t.Fatalf("without a close the stream changed: %d of %d bytes, at boundary %v", len(got), len(stream), d.t.atBoundary())
			}
			return
		}
		k := -1 // the first frame end at or after asked (0 is a boundary too)
		if asked == 0 {
			k = 0
		}
		for _, e := range ends {
			if k < 0 && e >= asked {
				k = e
			}
		}
		if k < 0 {
			t.Fatalf("no frame end after %d in a %d-byte stream", asked, len(stream))
		}
		want := append(append([]byte(nil), stream[:k]...), close...)
		if !bytes.Equal(got, want) {
			t.Fatalf("close asked at %d (chunks of %d, frame ends %v): got %d bytes, want the first %d then the close frame",
				asked, step, ends, len(got), k)
		}
	})
}
