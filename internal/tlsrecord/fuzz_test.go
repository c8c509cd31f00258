package tlsrecord

import (
	"bytes"
	"testing"
)

// openRecord parses and opens one whole record as Conn.readRecord does.
func openRecord(d *direction, rec []byte) (byte, []byte, error) {
	if len(rec) < headerLen {
		return 0, nil, localAlert(alertDecodeError, "short")
	}
	hdr := (*[headerLen]byte)(rec[:headerLen])
	n, err := checkHeader(hdr)
	if err != nil {
		return 0, nil, err
	}
	if n != len(rec)-headerLen {
		return 0, nil, localAlert(alertDecodeError, "length")
	}
	return d.open(rec[:headerLen], rec[headerLen:])
}

// FuzzSealOpen: for every suite, payload, content type and sequence number, open(seal)
// is the identity; and any single-byte change of the sealed record makes open fail
// (never panic, never return data).
func FuzzSealOpen(f *testing.F) {
	f.Add([]byte("hello"), uint64(0), byte(typeApplicationData), uint8(0), uint16(7), byte(1))
	f.Add([]byte{}, uint64(1<<40), byte(typeAlert), uint8(1), uint16(0), byte(0x80))
	f.Add(bytes.Repeat([]byte{0}, 300), uint64(3), byte(typeHandshake), uint8(2), uint16(4), byte(0xff))
	f.Fuzz(func(t *testing.T, payload []byte, seq uint64, typ byte, suiteIdx uint8, pos uint16, flip byte) {
		if len(payload) > maxPlaintext || seq == 1<<64-1 {
			return
		}
		typ = typ%3 + typeAlert // a content type is never 0 (that is padding)
		s := &suites[int(suiteIdx)%len(suites)]
		secret := bytes.Repeat([]byte{byte(seq)}, s.hash().Size())
		var w, r direction
		if err := w.set(s, secret, seq); err != nil {
			t.Fatal(err)
		}
		if err := r.set(s, secret, seq); err != nil {
			t.Fatal(err)
		}
		rec, err := w.seal(nil, typ, payload)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec) != headerLen+len(payload)+1+tagLen {
			t.Fatalf("record of %d bytes for %d of payload", len(rec), len(payload))
		}
		mutated := bytes.Clone(rec)
		gotTyp, got, err := openRecord(&r, rec)
		if err != nil || gotTyp != typ || !bytes.Equal(got, payload) {
			t.Fatalf("open(seal) = %d %x %v, want %d %x", gotTyp, got, err, typ, payload)
		}
		if w.seq != seq+1 || r.seq != seq+1 {
			t.Fatalf("sequence numbers %d %d after one record from %d", w.seq, r.seq, seq)
		}
		if flip == 0 {
			flip = 1
		}
		mutated[int(pos)%len(mutated)] ^= flip
		var r2 direction
		if err := r2.set(s, secret, seq); err != nil {
			t.Fatal(err)
		}
		if _, got, err := openRecord(&r2, mutated); err == nil {
			t.Fatalf("a record changed at byte %d opened: %x", int(pos)%len(mutated), got)
		}
	})
}
