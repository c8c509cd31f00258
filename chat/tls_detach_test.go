package chat

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/edge-server/edge/internal/tlsrecord"
)

// tlsHub serves a hub over TLS the way edge does (tls.NewListener, KeepHijackedConns).
func tlsHub(t *testing.T, cfg Config) (*Hub, string) {
	t.Helper()
	cfg.KeepHijackedConns = true
	h, addr := benchServerTLS(t, cfg, selfSigned(t))
	return h, "wss://" + addr + "/chat/ws?token=" + benchToken(t, h)
}

func dialTLS(t *testing.T, url string, maxVersion uint16) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: maxVersion}}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dialing %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// expect reads frames until one of type typ (failing on an error frame).
func expect(t *testing.T, c *websocket.Conn, typ string) map[string]any {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var f map[string]any
		if err := c.ReadJSON(&f); err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		if f["type"] == typ {
			return f
		}
		if f["type"] == "error" {
			t.Fatalf("waiting for %s: error frame %v", typ, f)
		}
	}
}

// sessionConns returns the connection type of every session.
func sessionConns(h *Hub) map[string]int {
	out := map[string]int{}
	for _, s := range h.sessions.List() {
		out[fmt.Sprintf("%T", s.conn)]++
	}
	return out
}

// TestTLSSessionsDetach: over TLS 1.3 the chat takes the connection from crypto/tls
// (tlsrecord) and everything works as before: many messages both ways, the close on
// shutdown; a TLS 1.2 client keeps crypto/tls and works too.
func TestTLSSessionsDetach(t *testing.T) {
	h, url := tlsHub(t, Config{MessageRate: 1e6, MessageBurst: 1e6, MaxConnsPerIP: 100})
	a := dialTLS(t, url, 0)
	b := dialTLS(t, url, 0)
	old := dialTLS(t, url, tls.VersionTLS12)
	for _, c := range []*websocket.Conn{a, b, old} {
		expect(t, c, "welcome")
		if err := c.WriteJSON(map[string]any{"type": "join", "room": "tls"}); err != nil {
			t.Fatal(err)
		}
		expect(t, c, "history")
	}
	if got := sessionConns(h); got["*tlsrecord.Conn"] != 2 || got["*tls.Conn"] != 1 {
		t.Fatalf("session connections %v, want 2 *tlsrecord.Conn and 1 *tls.Conn", got)
	}
	const n = 300
	for i := range n {
		from := []*websocket.Conn{a, b, old}[i%3]
		if err := from.WriteJSON(map[string]any{"type": "send", "room": "tls", "client_id": fmt.Sprintf("m%d", i),
			"content": fmt.Sprintf("message %d %0*d", i, i*6, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	// Every member gets every message once, each sender's in the order sent.
	for _, c := range []*websocket.Conn{a, b, old} {
		last := [3]int{-3, -2, -1}
		for range n {
			m := expect(t, c, "message")
			raw, _ := json.Marshal(m["message"])
			var msg Message
			_ = json.Unmarshal(raw, &msg)
			var i int
			if _, err := fmt.Sscanf(msg.Content, "message %d", &i); err != nil || i < 0 || i >= n {
				t.Fatalf("message %q", msg.Content)
			}
			if want := fmt.Sprintf("message %d %0*d", i, i*6, 0); msg.Content != want || i != last[i%3]+3 {
				t.Fatalf("message %q after %d from its sender", msg.Content, last[i%3])
			}
			last[i%3] = i
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*websocket.Conn{a, b, old} {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
					t.Fatalf("after Shutdown: %v, want close 1001", err)
				}
				break
			}
		}
	}
}

// TestTLSStalledReaderCut: a detached TLS member that stops reading while the room is
// busy is cut by the write deadline or queue bound, as on plain TCP; the others go on.
func TestTLSStalledReaderCut(t *testing.T) {
	h, url := tlsHub(t, Config{MessageRate: 1e6, MessageBurst: 1e6, MaxConnsPerIP: 100,
		WriteTimeout: 500 * time.Millisecond, SendQueueBytes: 256 << 10})
	stalled := dialTLS(t, url, 0)
	sender := dialTLS(t, url, 0)
	for _, c := range []*websocket.Conn{stalled, sender} {
		expect(t, c, "welcome")
		if err := c.WriteJSON(map[string]any{"type": "join", "room": "busy"}); err != nil {
			t.Fatal(err)
		}
		expect(t, c, "history")
	}
	if got := sessionConns(h); got["*tlsrecord.Conn"] != 2 {
		t.Fatalf("session connections %v", got)
	}
	big := fmt.Sprintf("%02000d", 0)
	go func() {
		for i := range 5000 {
			if sender.WriteJSON(map[string]any{"type": "send", "room": "busy", "client_id": fmt.Sprintf("b%d", i), "content": big}) != nil {
				return
			}
		}
	}()
	go func() { // the sender reads its own copies; the stalled member reads nothing
		for {
			if _, _, err := sender.ReadMessage(); err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for h.sessions.Len() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the stalled member was not cut: %d sessions", h.sessions.Len())
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = stalled
}

var _ net.Conn = (*tlsrecord.Conn)(nil)

// TestTLSDirectWritesInOrderToSlowReaders: over TLS the deliverer seals frames and
// writes them itself (tlsrecord TryWrite); members that read in bursts leave records
// half written, which their writer goroutines finish. Every member still gets every
// message exactly once and in order, whatever its size (up to 2 KB, several frames per
// record when corked), and nobody is cut.
func TestTLSDirectWritesInOrderToSlowReaders(t *testing.T) {
	h, url := tlsHub(t, Config{MessageRate: 1e6, MessageBurst: 1e6, MaxConnsPerIP: 100,
		SendQueueBytes: 64 << 20, SendQueueFrames: 1 << 20, WriteTimeout: 30 * time.Second})
	const members, n = 12, 1500
	cs := make([]*websocket.Conn, members)
	for i := range cs {
		cs[i] = dialTLS(t, url, 0)
		expect(t, cs[i], "welcome")
		if err := cs[i].WriteJSON(map[string]any{"type": "join", "room": "direct"}); err != nil {
			t.Fatal(err)
		}
		expect(t, cs[i], "history")
	}
	if got := sessionConns(h); got["*tlsrecord.Conn"] != members {
		t.Fatalf("session connections %v", got)
	}
	// Small socket buffers on both ends, so that records are left half written.
	for _, s := range h.sessions.List() {
		rc, err := s.conn.(*tlsrecord.Conn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		_ = rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 16<<10) })
	}
	for _, c := range cs {
		_ = c.NetConn().(*tls.Conn).NetConn().(*net.TCPConn).SetReadBuffer(16 << 10)
	}
	content := func(i int) string { return fmt.Sprintf("m %d %s.", i, strings.Repeat("x", (i*7919)%1900)) }
	go func() {
		for i := range n {
			if cs[0].WriteJSON(map[string]any{"type": "send", "room": "direct", "client_id": fmt.Sprint("d", i), "content": content(i)}) != nil {
				return
			}
		}
	}()
	errc := make(chan error, members)
	for k, c := range cs {
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
			next := 0
			for next < n {
				var f map[string]any
				if err := c.ReadJSON(&f); err != nil {
					errc <- fmt.Errorf("member %d after %d messages: %w", k, next, err)
					return
				}
				if f["type"] != "message" {
					continue
				}
				got := f["message"].(map[string]any)["content"].(string)
				if got != content(next) {
					errc <- fmt.Errorf("member %d: message %d is %.20q…", k, next, got)
					return
				}
				next++
				if k%3 == 1 && next%50 == 0 {
					time.Sleep(20 * time.Millisecond) // a reader in bursts: records pend
				}
			}
			errc <- nil
		}()
	}
	for range members {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if h.sessions.Len() != members {
		t.Fatalf("%d sessions left of %d", h.sessions.Len(), members)
	}
}
