//go:build unix

package tlsrecord

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TryWrite against a peer that reads in bursts with pauses: the socket's buffer fills,
// records are left half written and pending, TryWrite then declines until Flush or a
// Write has sent them, and Write, TryWrite and Flush interleaved deliver every byte
// once, in order — checked by crypto/tls on the other end, which fails on any record
// that is cut, repeated or out of sequence.
func TestTryWriteWithPendingRecords(t *testing.T) {
	p := newPair(t, 0)
	c := p.detach(t)
	_ = c.tcp.SetWriteBuffer(8 << 10)
	var want bytes.Buffer
	got := make(chan []byte, 1)
	go func() {
		var all []byte
		buf := make([]byte, 3000)
		_ = p.client.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			n, err := p.client.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil {
				got <- all
				return
			}
			if len(all)%7 == 0 {
				time.Sleep(time.Millisecond) // let the sender's buffer fill now and then
			}
		}
	}()
	pendings, declined := 0, 0
	for i := range 3000 {
		frame := payload(i % 4) // 1 to 1,500 bytes
		if i%3 == 0 {
			frame = bytes.Repeat([]byte{byte(i)}, 9000)
		}
		switch i % 5 {
		case 4: // an ordinary Write now and then, after whatever is pending
			if _, err := c.Write(frame); err != nil {
				t.Fatal(err)
			}
		default:
			ok, pending := c.TryWrite([][]byte{frame[:len(frame)/2], frame[len(frame)/2:]})
			if !ok {
				declined++
				if err := c.Flush(); err != nil {
					t.Fatal(err)
				}
				if ok, pending = c.TryWrite([][]byte{frame}); !ok {
					t.Fatalf("frame %d: TryWrite declined right after a Flush", i)
				}
			}
			if pending {
				pendings++
			}
		}
		want.Write(frame)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	all := <-got
	if !bytes.Equal(all, want.Bytes()) {
		t.Fatalf("the peer read %d bytes, %d were written, or they differ", len(all), want.Len())
	}
	if pendings == 0 || declined == 0 {
		t.Fatalf("the peer never made the socket full (%d pending, %d declined): the test tests nothing", pendings, declined)
	}
	t.Logf("%d writes left a record pending, TryWrite declined %d times", pendings, declined)
}

// TryWrite declines data that does not fit one record and a connection that failed;
// a peer that stops reading leaves a record pending, and Flush is cut by the deadline.
func TestTryWriteLimits(t *testing.T) {
	p := newPair(t, 0)
	c := p.detach(t)
	if ok, _ := c.TryWrite([][]byte{make([]byte, maxPlaintext+1)}); ok {
		t.Fatal("TryWrite took more than one record's worth")
	}
	if ok, pending := c.TryWrite(nil); !ok || pending {
		t.Fatal("nothing to write must be done at once")
	}
	var pending bool
	for range 10000 {
		var ok bool
		if ok, pending = c.TryWrite([][]byte{make([]byte, maxPlaintext)}); !ok || pending {
			break
		}
	}
	if !pending {
		t.Fatal("a peer that does not read never left a record pending")
	}
	if ok, _ := c.TryWrite([][]byte{[]byte("x")}); ok {
		t.Fatal("TryWrite wrote while a record was pending")
	}
	_ = c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	err := c.Flush()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Flush to a peer that does not read: %v, want a timeout", err)
	}
	if ok, _ := c.TryWrite([][]byte{[]byte("x")}); ok {
		t.Fatal("TryWrite wrote after the stream broke")
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("Write succeeded after the stream broke")
	}
}

// FuzzTryWriteRoundTrip: any sequence of TryWrite (one part or split in two) and Write
// calls, with records left pending whenever the small send buffer fills, then a Flush,
// delivers exactly the concatenation of what was written, in order (crypto/tls reads it
// back and fails on any record cut, repeated or out of sequence).
func FuzzTryWriteRoundTrip(f *testing.F) {
	f.Add([]byte("hello, world"), []byte{0, 1, 2})
	f.Add(bytes.Repeat([]byte{0xab}, 70000), []byte{5, 200, 17, 3, 250, 1, 0, 99})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, data, ops []byte) {
		p := newPair(t, 0)
		c := p.detach(t)
		_ = c.tcp.SetWriteBuffer(4 << 10)
		client := p.client
		got := make(chan []byte, 1)
		go func() {
			b := make([]byte, len(data))
			_, _ = io.ReadFull(client, b)
			got <- b
		}()
		rest := data
		for i := 0; len(rest) > 0; i++ {
			op := byte(i)
			if i < len(ops) {
				op = ops[i]
			}
			n := min(len(rest), 1+int(op)*64)
			chunk := rest[:n]
			rest = rest[n:]
			var ok bool
			switch op % 3 {
			case 0:
				ok, _ = c.TryWrite([][]byte{chunk})
			case 1:
				ok, _ = c.TryWrite([][]byte{chunk[:n/2], chunk[n/2:]})
			}
			if !ok {
				if _, err := c.Write(chunk); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		select {
		case b := <-got:
			if !bytes.Equal(b, data) {
				t.Fatalf("the peer read %d bytes that differ from the %d written", len(b), len(data))
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the peer did not get everything that was written")
		}
	})
}
