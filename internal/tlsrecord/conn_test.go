package tlsrecord

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// payload is message i of a round trip: sizes cover empty-ish, small, one full record
// and several records.
func payload(i int) []byte {
	sizes := []int{1, 7, 100, 1500, maxPlaintext, maxPlaintext + 1, 40000}
	b := make([]byte, sizes[i%len(sizes)])
	for j := range b {
		b[j] = byte(i + j)
	}
	return b
}

// TestRoundTripAfterDetach: crypto/tls on both sides exchanges records first (so both
// sequence numbers are past 0), then the server is detached and many messages go both
// ways at once; every byte must arrive in order, which holds only if the sequence
// numbers taken over are exactly right in both directions.
func TestRoundTripAfterDetach(t *testing.T) {
	p := newPair(t, 0)
	for i := range 5 { // advance both sequence numbers under crypto/tls
		if _, err := p.client.Write([]byte("before")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 6)
		if _, err := io.ReadFull(p.server, buf); err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Fprintf(p.server, "reply%d", i); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(p.client, buf); err != nil {
			t.Fatal(err)
		}
	}
	c := p.detach(t)
	if want := os.Getenv("TLSRECORD_WANT_SUITE"); want != "" && fmt.Sprintf("%#04x", c.suite.id) != want {
		t.Fatalf("negotiated suite %#04x, want %s", c.suite.id, want)
	}
	const n = 200
	var want bytes.Buffer
	for i := range n {
		want.Write(payload(i))
	}
	errc := make(chan error, 3)
	go func() { // client → server
		for i := range n {
			if _, err := p.client.Write(payload(i)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	go func() { // server → client
		for i := range n {
			if _, err := c.Write(payload(i)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	go func() {
		got := make([]byte, want.Len())
		_ = p.client.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadFull(p.client, got); err != nil {
			errc <- fmt.Errorf("client read: %w", err)
			return
		}
		if !bytes.Equal(got, want.Bytes()) {
			errc <- errors.New("client received other bytes than the server sent")
			return
		}
		errc <- nil
	}()
	got := make([]byte, want.Len())
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("server read: %v", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("server received other bytes than the client sent")
	}
	for range 3 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	// close_notify from the client: io.EOF; the server may still write (half close).
	if err := p.client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := readErr(t, c); err != io.EOF {
		t.Fatalf("after close_notify: %v, want io.EOF", err)
	}
	if _, err := c.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(p.client, buf); err != nil || string(buf) != "bye" {
		t.Fatalf("client read %q, %v", buf, err)
	}
	// Our close_notify reaches the client as io.EOF.
	_ = c.Close()
	if err := readErr(t, p.client); err != io.EOF {
		t.Fatalf("client after Close: %v, want io.EOF", err)
	}
}

// TestChaCha20Poly1305 runs the round trip in a child process that sees no AES
// hardware, where crypto/tls negotiates TLS_CHACHA20_POLY1305_SHA256.
func TestChaCha20Poly1305(t *testing.T) {
	if os.Getenv("TLSRECORD_WANT_SUITE") != "" {
		return // the child itself
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run", "^TestRoundTripAfterDetach$", "-test.count", "1")
	cmd.Env = append(os.Environ(), "GODEBUG=cpu.aes=off", "TLSRECORD_WANT_SUITE=0x1303")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("PASS")) {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// TestClientKeyUpdate: the client updates its keys (a hand-made KeyUpdate with
// update_requested); the server must read the records after it with the new key and
// send its own KeyUpdate before its next data, which crypto/tls on the client follows.
func TestClientKeyUpdate(t *testing.T) {
	p := newPair(t, 0)
	if _, err := p.client.Write([]byte("one")); err != nil {
		t.Fatal(err)
	}
	c := p.detach(t)
	w := p.handWriter(t, 1)
	p.sendRaw(t, seal(t, w, typeHandshake, []byte{handshakeKeyUpdate, 0, 0, 1, 1}))
	if err := w.update(p.suite); err != nil {
		t.Fatal(err)
	}
	p.sendRaw(t, seal(t, w, typeApplicationData, []byte("two")))
	buf := make([]byte, 6)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "onetwo" {
		t.Fatalf("server read %q, %v", buf, err)
	}
	if !c.keyUpdate.Load() {
		t.Fatal("update_requested not recorded")
	}
	for i := range 3 { // the KeyUpdate goes out with the first; then the new key is used
		if _, err := fmt.Fprintf(c, "r%d", i); err != nil {
			t.Fatal(err)
		}
	}
	_ = p.client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 6)
	if _, err := io.ReadFull(p.client, got); err != nil || string(got) != "r0r1r2" {
		t.Fatalf("client read %q, %v", got, err)
	}
	if c.out.seq != 3 {
		t.Fatalf("server write sequence %d after its KeyUpdate and 3 records, want 3", c.out.seq)
	}
	// Three KeyUpdates in a row without request, then data split over 1-byte writes.
	for range 3 {
		p.sendRaw(t, seal(t, w, typeHandshake, []byte{handshakeKeyUpdate, 0, 0, 1, 0}))
		if err := w.update(p.suite); err != nil {
			t.Fatal(err)
		}
	}
	rec := seal(t, w, typeApplicationData, []byte("split"))
	go func() {
		for i := range rec {
			_, _ = p.raw.Write(rec[i : i+1])
			time.Sleep(time.Millisecond)
		}
	}()
	buf = make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "split" {
		t.Fatalf("server read %q, %v", buf, err)
	}
	if c.keyUpdate.Load() {
		t.Fatal("update_not_requested asked for a KeyUpdate")
	}
}

// TestHostileRecords: each case sends one bad thing after the detach; the server's Read
// must fail with the stated error, the client must see the stated alert (when one is
// sent), and the server must not write afterwards.
func TestHostileRecords(t *testing.T) {
	over := make([]byte, maxInner) // content type + padding → inner plaintext of 2^14+2
	cases := []struct {
		name   string
		send   func(t *testing.T, p *pair, w *direction)
		alert  int   // alert the server sends; -1: none
		remote uint8 // for a peer's alert: the alert Read reports
		eof    error // for socket-level ends
	}{
		{"tampered ciphertext", func(t *testing.T, p *pair, w *direction) {
			rec := seal(t, w, typeApplicationData, []byte("hello"))
			rec[headerLen+2] ^= 1
			p.sendRaw(t, rec)
		}, alertBadRecordMAC, 0, nil},
		{"tampered header", func(t *testing.T, p *pair, w *direction) {
			rec := seal(t, w, typeApplicationData, []byte("hello"))
			rec[4]-- // the length, authenticated as additional data
			p.sendRaw(t, rec)
			p.sendRaw(t, []byte{0})
		}, alertBadRecordMAC, 0, nil},
		{"wrong sequence number (replay)", func(t *testing.T, p *pair, w *direction) {
			rec := seal(t, w, typeApplicationData, []byte("hello"))
			p.sendRaw(t, rec)
			p.sendRaw(t, rec)
		}, alertBadRecordMAC, 0, nil},
		{"oversize record header", func(t *testing.T, p *pair, w *direction) {
			p.sendRaw(t, []byte{typeApplicationData, 3, 3, (maxCiphertext + 1) >> 8, (maxCiphertext + 1) & 0xff})
		}, alertRecordOverflow, 0, nil},
		{"oversize inner plaintext", func(t *testing.T, p *pair, w *direction) {
			p.sendRaw(t, seal(t, w, typeApplicationData, over)) // authenticates; too long
		}, alertRecordOverflow, 0, nil},
		{"plaintext garbage", func(t *testing.T, p *pair, w *direction) {
			p.sendRaw(t, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		}, alertUnexpectedMessage, 0, nil},
		{"change cipher spec", func(t *testing.T, p *pair, w *direction) {
			p.sendRaw(t, []byte{20, 3, 3, 0, 1, 1})
		}, alertUnexpectedMessage, 0, nil},
		{"record version", func(t *testing.T, p *pair, w *direction) {
			rec := seal(t, w, typeApplicationData, []byte("x"))
			rec[2] = 1
			p.sendRaw(t, rec)
		}, alertProtocolVersion, 0, nil},
		{"only padding", func(t *testing.T, p *pair, w *direction) {
			p.sendRaw(t, seal(t, w, 0, []byte{0, 0, 0}))
		}, alertUnexpectedMessage, 0, nil},
		{"NewSessionTicket from the client", func(t *testing.T, p *pair, w *direction) {
			p.sendRaw(t, seal(t, w, typeHandshake, []byte{4, 0, 0, 0}))
		}, alertUnexpectedMessage, 0, nil},
		{"KeyUpdate split across records", func(t *testing.T, p *pair, w *direction) {
			p.sendRaw(t, seal(t, w, typeHandshake, []byte{handshakeKeyUpdate, 0, 0}))
		}, alertUnexpectedMessage, 0, nil},
		{"data after KeyUpdate in its record", func(t *testing.T, p *pair, w *direction) {
			p.sendRaw(t, seal(t, w, typeHandshake, []byte{handshakeKeyUpdate, 0, 0, 1, 0, handshakeKeyUpdate, 0, 0, 1, 0}))
		}, alertDecodeError, 0, nil},
		{"KeyUpdate request 2", func(t *testing.T, p *pair, w *direction) {
			p.sendRaw(t, seal(t, w, typeHandshake, []byte{handshakeKeyUpdate, 0, 0, 1, 2}))
		}, alertIllegalParameter, 0, nil},
		{"unknown content type", func(t *testing.T, p *pair, w *direction) {
			p.sendRaw(t, seal(t, w, 24, []byte("hb")))
		}, alertUnexpectedMessage, 0, nil},
		{"empty record flood", func(t *testing.T, p *pair, w *direction) {
			for range maxUseless + 1 {
				p.sendRaw(t, seal(t, w, typeApplicationData, nil))
			}
		}, alertUnexpectedMessage, 0, nil},
		{"malformed alert", func(t *testing.T, p *pair, w *direction) {
			p.sendRaw(t, seal(t, w, typeAlert, []byte{2}))
		}, alertDecodeError, 0, nil},
		{"peer's fatal alert", func(t *testing.T, p *pair, w *direction) {
			p.sendRaw(t, seal(t, w, typeAlert, []byte{2, 40}))
		}, -1, 40, nil},
		{"truncated record", func(t *testing.T, p *pair, w *direction) {
			rec := seal(t, w, typeApplicationData, []byte("hello"))
			p.sendRaw(t, rec[:len(rec)-3])
			_ = p.raw.(*net.TCPConn).CloseWrite()
		}, -1, 0, io.ErrUnexpectedEOF},
		{"truncated header", func(t *testing.T, p *pair, w *direction) {
			p.sendRaw(t, []byte{typeApplicationData, 3})
			_ = p.raw.(*net.TCPConn).CloseWrite()
		}, -1, 0, io.ErrUnexpectedEOF},
		{"FIN without close_notify", func(t *testing.T, p *pair, w *direction) {
			_ = p.raw.(*net.TCPConn).CloseWrite()
		}, -1, 0, io.EOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, 0)
			c := p.detach(t)
			// A good record first: the bad one is not the first after the detach.
			w := p.handWriter(t, 0)
			p.sendRaw(t, seal(t, w, typeApplicationData, []byte("ok")))
			buf := make([]byte, 2)
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
			tc.send(t, p, w)
			err := readErr(t, c)
			var ae *AlertError
			switch {
			case tc.alert >= 0:
				if !errors.As(err, &ae) || ae.Remote || int(ae.Alert) != tc.alert {
					t.Fatalf("Read: %v, want local alert %d", err, tc.alert)
				}
				// crypto/tls on the client receives the alert.
				cerr := readErr(t, p.client)
				// (crypto/tls reports it as "remote error: tls: <alert>")
				if cerr == nil || !strings.HasSuffix(cerr.Error(), "remote error: "+tls.AlertError(tc.alert).Error()) {
					t.Fatalf("client read: %v, want alert %d", cerr, tc.alert)
				}
			case tc.remote != 0:
				if !errors.As(err, &ae) || !ae.Remote || ae.Alert != tc.remote {
					t.Fatalf("Read: %v, want remote alert %d", err, tc.remote)
				}
			default:
				if err != tc.eof {
					t.Fatalf("Read: %v, want %v", err, tc.eof)
				}
			}
			if err2 := readErr(t, c); err2 != err {
				t.Fatalf("second Read: %v, want the same %v", err2, err)
			}
			if tc.eof == nil {
				if _, err := c.Write([]byte("more")); err == nil {
					t.Fatal("Write succeeded after a fatal error")
				}
			}
		})
	}
}

// TestPeerStopsReading: a write deadline cuts a writer whose peer reads nothing, and
// the connection accepts no write after that (a record may be half sent).
func TestPeerStopsReading(t *testing.T) {
	p := newPair(t, 0)
	c := p.detach(t)
	chunk := make([]byte, 64<<10)
	start := time.Now()
	_ = c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	var err error
	for err == nil && time.Since(start) < 10*time.Second {
		_, err = c.Write(chunk)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Write to a peer that does not read: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the deadline cut the write after %v", d)
	}
	_ = c.SetWriteDeadline(time.Time{})
	if _, err2 := c.Write([]byte("x")); err2 == nil {
		t.Fatal("Write succeeded after a timed-out write")
	}
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close blocked on a peer that does not read")
	}
}

// TestReadTimeoutResumes: a read deadline in the middle of a record leaves it to the
// next Read, which completes it.
func TestReadTimeoutResumes(t *testing.T) {
	p := newPair(t, 0)
	c := p.detach(t)
	w := p.handWriter(t, 0)
	rec := seal(t, w, typeApplicationData, []byte("resumed"))
	p.sendRaw(t, rec[:4])
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 7)
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read: %v, want a timeout", err)
	}
	p.sendRaw(t, rec[4:10])
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read: %v, want a timeout", err)
	}
	p.sendRaw(t, rec[10:])
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "resumed" {
		t.Fatalf("Read %q, %v", buf, err)
	}
	if c.buf != nil {
		t.Fatal("a drained connection still holds a buffer")
	}
}

// TestIdleDropsReadAEAD: a reader that finds nothing to read drops the read AEAD (its
// 768 bytes for AES-GCM) and rebuilds it for the next record.
func TestIdleDropsReadAEAD(t *testing.T) {
	p := newPair(t, 0)
	c := p.detach(t)
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read of an idle connection: %v, want a timeout", err)
	}
	if runtime.GOOS == "linux" && c.in.aead != nil {
		t.Fatal("an idle connection kept its read AEAD")
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range 3 {
		want := fmt.Sprintf("after idle %d", i)
		if _, err := io.WriteString(p.client, want); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
			t.Fatalf("Read %q, %v", got, err)
		}
	}
}

// ReleaseWriteKey between writes, and concurrently with them: every record still
// reaches the peer intact and in order (the AEAD is rebuilt from the same key, the
// sequence number goes on), and a released key is really gone.
func TestReleaseWriteKey(t *testing.T) {
	p := newPair(t, 0)
	c := p.detach(t)
	if _, err := c.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	c.ReleaseWriteKey()
	if c.out.aead != nil {
		t.Fatal("the write AEAD was kept")
	}
	const n = 300
	var want bytes.Buffer
	want.WriteString("first")
	for i := range n {
		want.Write(payload(i))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2000 {
			c.ReleaseWriteKey()
			runtime.Gosched()
		}
	}()
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := c.Write(payload(i)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	got := make([]byte, want.Len())
	_ = p.client.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(p.client, got[:5]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(p.client, got[5:]); err != nil {
		t.Fatalf("reading what was written around released keys: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	<-done
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("the bytes written around released keys differ from what was sent")
	}
}
