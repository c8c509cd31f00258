package tlsrecord

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"math"
	"testing"
	"time"
)

// TestDetachFindsTLSState pins the crypto/tls fields Detach reads to the Go toolchain
// in use: the traffic secrets must be the ones the client logged, and the sequence
// numbers must count the records each side sent. If a Go release moves these fields,
// this test fails loudly (and Detach falls back to keeping crypto/tls).
func TestDetachFindsTLSState(t *testing.T) {
	p := newPair(t, 0)
	for range 3 {
		if _, err := p.client.Write([]byte("c")); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(p.server, buf); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := p.server.Write([]byte("s")); err != nil {
			t.Fatal(err)
		}
	}
	st, err := readState(p.server)
	if err != nil {
		t.Fatalf("crypto/tls state not found: %v", err)
	}
	if !bytes.Equal(st.inSecret, p.keys.secret(t, "CLIENT_TRAFFIC_SECRET_0")) {
		t.Fatal("read secret is not CLIENT_TRAFFIC_SECRET_0")
	}
	if !bytes.Equal(st.outSecret, p.keys.secret(t, "SERVER_TRAFFIC_SECRET_0")) {
		t.Fatal("write secret is not SERVER_TRAFFIC_SECRET_0")
	}
	if st.inSeq != 3 {
		t.Fatalf("read sequence %d, want 3", st.inSeq)
	}
	// The server's session tickets are sent under the application keys first.
	if st.outSeq < 2 {
		t.Fatalf("write sequence %d, want at least 2", st.outSeq)
	}
	for _, name := range []string{"quic", "rawInput", "hand", "input", "buffering", "sendBuf", "closeNotifySent", "activeCall", "in", "out"} {
		r := stateReader{v: valueOf(p.server)}
		if _, ok := r.field(r.v, name); !ok {
			t.Errorf("tls.Conn has no field %s: %v", name, r.err)
		}
	}
}

// TestDetachRefuses: connections Detach must leave to crypto/tls, which keeps working.
func TestDetachRefuses(t *testing.T) {
	t.Run("TLS 1.2", func(t *testing.T) {
		p := newPair(t, tls.VersionTLS12)
		if _, err := Detach(p.server); !errors.Is(err, ErrNotDetachable) {
			t.Fatalf("Detach: %v, want ErrNotDetachable", err)
		}
		echo(t, p.client, p.server)
	})
	t.Run("application data buffered", func(t *testing.T) {
		p := newPair(t, 0)
		if _, err := p.client.Write([]byte("0123456789")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(p.server, b); err != nil {
			t.Fatal(err)
		}
		if _, err := Detach(p.server); !errors.Is(err, ErrNotDetachable) {
			t.Fatalf("Detach with 9 bytes buffered: %v, want ErrNotDetachable", err)
		}
		rest := make([]byte, 9)
		if _, err := io.ReadFull(p.server, rest); err != nil || string(rest) != "123456789" {
			t.Fatalf("read %q, %v", rest, err)
		}
		echo(t, p.client, p.server)
	})
	t.Run("partial record buffered", func(t *testing.T) {
		p := newPair(t, 0)
		w := p.handWriter(t, 0)
		rec := seal(t, w, typeApplicationData, []byte("partial"))
		p.sendRaw(t, rec[:8])
		_ = p.server.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := p.server.Read(make([]byte, 8)); err == nil {
			t.Fatal("read a partial record")
		}
		if _, err := Detach(p.server); !errors.Is(err, ErrNotDetachable) {
			t.Fatalf("Detach with a partial record buffered: %v, want ErrNotDetachable", err)
		}
	})
}

func echo(t *testing.T, client, server io.ReadWriter) {
	t.Helper()
	if _, err := client.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(server, b); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Write(b); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, b); err != nil || string(b) != "ping" {
		t.Fatalf("echo %q, %v", b, err)
	}
}

// TestOldConnCannotReachPeer: after Detach a write through the old tls.Conn (which
// would reuse a sequence number, so a nonce) fails and nothing of it reaches the peer.
func TestOldConnCannotReachPeer(t *testing.T) {
	p := newPair(t, 0)
	c := p.detach(t)
	if _, err := p.server.Write([]byte("stale")); err == nil {
		t.Fatal("the old tls.Conn could still write")
	}
	_ = p.server.Close()
	if _, err := c.Write([]byte("fresh")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	_ = p.client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(p.client, b); err != nil || string(b) != "fresh" {
		t.Fatalf("client read %q, %v (a stale record would fail authentication)", b, err)
	}
}

// TestSequenceExhausted: neither side ever uses the last sequence number's successor.
func TestSequenceExhausted(t *testing.T) {
	p := newPair(t, 0)
	c := p.detach(t)
	c.out.seq = math.MaxUint64
	if _, err := c.Write([]byte("x")); !errors.Is(err, errSeqExhausted) {
		t.Fatalf("Write at the last sequence number: %v", err)
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("Write after exhaustion succeeded")
	}
	d := &direction{}
	if err := d.set(p.suite, make([]byte, 32), math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.open(make([]byte, headerLen), make([]byte, 32)); !errors.Is(err, errSeqExhausted) {
		t.Fatalf("open at the last sequence number: %v", err)
	}
}
