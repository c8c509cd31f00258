package chat

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/edge-server/edge/internal/wait"
	"github.com/edge-server/edge/internal/wsproto"
)

// parkHub is a hub served over plain TCP or TLS, and a URL with a token for it.
func parkHub(t *testing.T, cfg Config, useTLS bool) (*Hub, string) {
	t.Helper()
	if useTLS {
		return tlsHub(t, cfg)
	}
	h, addr := benchServer(t, cfg)
	return h, "ws://" + addr + "/chat/ws?token=" + benchToken(t, h)
}

func dialAny(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	if url[:3] == "wss" {
		return dialTLS(t, url, 0)
	}
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dialing: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Members that only listen hold no reader goroutine between the frames they send, over
// plain TCP and TLS 1.3 alike; every frame they send wakes them and is handled, every
// message reaches every member once and in order, and they park again afterwards.
func TestIdleMembersParkWithoutGoroutines(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "ws", true: "wss"}[useTLS], func(t *testing.T) {
			h, url := parkHub(t, Config{MessageRate: 1e6, MessageBurst: 1e6, MaxConnsPerIP: 1000}, useTLS)
			before := runtime.NumGoroutine()
			const n = 120
			cs := make([]*websocket.Conn, n)
			for i := range cs {
				cs[i] = dialAny(t, url)
				expect(t, cs[i], "welcome")
				if err := cs[i].WriteJSON(map[string]any{"type": "join", "room": "park"}); err != nil {
					t.Fatal(err)
				}
				expect(t, cs[i], "history")
			}
			wait.Until(t, 15*time.Second, "every member parked", func() bool { return h.idle.Parked() == n })
			wait.Until(t, 15*time.Second, "the goroutines of the joins gone", func() bool { return runtime.NumGoroutine()-before <= n/4 })
			// Ten rounds: each member sends one message; everyone reads all of them.
			for round := range 10 {
				for i, c := range cs {
					if err := c.WriteJSON(map[string]any{"type": "send", "room": "park",
						"client_id": fmt.Sprintf("r%d-%d", round, i), "content": fmt.Sprintf("%d %d", round, i)}); err != nil {
						t.Fatal(err)
					}
				}
				for _, c := range cs {
					seen := map[string]bool{}
					for len(seen) < n {
						m := expect(t, c, "message")
						content := m["message"].(map[string]any)["content"].(string)
						if seen[content] {
							t.Fatalf("round %d: %q twice", round, content)
						}
						seen[content] = true
					}
				}
			}
			wait.Until(t, 15*time.Second, "every member parked again", func() bool { return h.idle.Parked() == n })
		})
	}
}

// A parked member's peer goes away — a FIN, a reset, half a frame header and then
// silence until a missed pong, or silence from the start — and the session ends each
// time, while the member that answers its pings stays through many wake-ups.
func TestParkedSessionEnds(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "ws", true: "wss"}[useTLS], func(t *testing.T) {
			h, url := parkHub(t, Config{MessageRate: 1e6, MessageBurst: 1e6, MaxConnsPerIP: 1000,
				PingInterval: 300 * time.Millisecond}, useTLS)
			cs := make([]*websocket.Conn, 5)
			for i := range cs {
				cs[i] = dialAny(t, url)
				expect(t, cs[i], "welcome")
				if err := cs[i].WriteJSON(map[string]any{"type": "join", "room": "end"}); err != nil {
					t.Fatal(err)
				}
				expect(t, cs[i], "history")
			}
			wait.Until(t, 15*time.Second, "all parked", func() bool { return h.idle.Parked() == len(cs) })
			// cs[0] keeps answering pings (its reader runs); the others end one way each.
			go func() {
				for {
					if _, _, err := cs[0].ReadMessage(); err != nil {
						return
					}
				}
			}()
			tcp := func(c *websocket.Conn) *net.TCPConn {
				nc := c.NetConn()
				if tc, ok := nc.(*tls.Conn); ok {
					nc = tc.NetConn()
				}
				return nc.(*net.TCPConn)
			}
			_ = tcp(cs[1]).CloseWrite() // FIN
			_ = tcp(cs[2]).SetLinger(0)
			_ = tcp(cs[2]).Close() // reset
			if !useTLS {
				_, _ = tcp(cs[3]).Write([]byte{0x81}) // one byte of a header, then nothing
			} else {
				_, _ = tcp(cs[3]).Write([]byte{23, 3}) // part of a record header
			}
			// cs[4] stays silent: it never answers a ping, and is killed while parked.
			wait.Until(t, 15*time.Second, "the four ended sessions gone", func() bool { return h.sessions.Len() == 1 })
			if p := h.idle.Parked(); p > 1 {
				t.Fatalf("%d sessions still parked", p)
			}
		})
	}
}

// Shutdown with parked members, half of which never answer the close frame: it still
// ends within the close grace, every session gone, nothing left parked.
func TestShutdownWithParkedMembers(t *testing.T) {
	h, url := parkHub(t, Config{MessageRate: 1e6, MessageBurst: 1e6, MaxConnsPerIP: 1000}, false)
	const n = 60
	for i := range n {
		c := dialAny(t, url)
		expect(t, c, "welcome")
		if i%2 == 0 {
			go func() { // answers the close frame (gorilla echoes it while reading)
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						return
					}
				}
			}()
		}
	}
	wait.Until(t, 15*time.Second, "all parked", func() bool { return h.idle.Parked() == n })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > closeGrace+2*time.Second {
		t.Fatalf("Shutdown took %v with parked members that do not answer", d)
	}
	if h.sessions.Len() != 0 {
		t.Fatalf("%d sessions after Shutdown", h.sessions.Len())
	}
}

// Churn: members join, park, talk and go (FIN or reset) in random order while others
// arrive, on plain TCP and TLS. At the end exactly the members still connected are
// sessions and parked, and no goroutine is left behind.
func TestParkChurn(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "ws", true: "wss"}[useTLS], func(t *testing.T) {
			h, url := parkHub(t, Config{MessageRate: 1e6, MessageBurst: 1e6, MaxConnsPerIP: 1000}, useTLS)
			before := runtime.NumGoroutine()
			var live []*websocket.Conn
			for i := range 150 {
				c := dialAny(t, url)
				expect(t, c, "welcome")
				if err := c.WriteJSON(map[string]any{"type": "join", "room": "churn"}); err != nil {
					t.Fatal(err)
				}
				live = append(live, c)
				if i%3 == 2 { // one of the older members says something, one goes
					k := (i * 7) % len(live)
					_ = live[k].WriteJSON(map[string]any{"type": "send", "room": "churn", "client_id": fmt.Sprint("c", i), "content": "x"})
					gone := live[(k+1)%len(live)]
					nc := gone.NetConn()
					if tc, ok := nc.(*tls.Conn); ok {
						nc = tc.NetConn()
					}
					if i%2 == 0 {
						_ = nc.(*net.TCPConn).SetLinger(0)
					}
					_ = nc.Close()
					live = append(live[:(k+1)%len(live)], live[(k+1)%len(live)+1:]...)
				}
			}
			// Members that are not read from may be closed as slow consumers only if their
			// queue overflows, which a few messages do not: every live one stays.
			wait.Until(t, 15*time.Second, "sessions to match the live members", func() bool { return h.sessions.Len() == len(live) })
			wait.Until(t, 15*time.Second, "every live member parked", func() bool { return h.idle.Parked() == len(live) })
			// Writers of the last presence frames (a TLS session has one per delivery) end
			// once their frames are in the socket.
			wait.Until(t, 15*time.Second, "no more than 30 goroutines above the start", func() bool {
				return runtime.NumGoroutine()-before <= 30
			})
		})
	}
}

// A parked member's reader is woken with bytes waiting and reads the frame in one go,
// without the frame deadline; a frame that is not all there yet still gets it. So a
// frame split over two writes (in its header or after it) is served, and one that
// stops halfway is cut after FrameTimeout (the pinger is far off), not kept open by the
// read-ahead path.
func TestParkedMemberFrameDeadline(t *testing.T) {
	const frameTimeout = 400 * time.Millisecond
	h, url := parkHub(t, Config{MessageRate: 1e6, MessageBurst: 1e6, MaxConnsPerIP: 1000,
		PingInterval: time.Minute, FrameTimeout: frameTimeout}, false)
	c := dialAny(t, url)
	expect(t, c, "welcome")
	if err := c.WriteJSON(map[string]any{"type": "join", "room": "stall"}); err != nil {
		t.Fatal(err)
	}
	expect(t, c, "history")
	raw := c.NetConn()
	send := func(clientID string) []byte {
		p := []byte(`{"type":"send","room":"stall","content":"hi","client_id":"` + clientID + `"}`)
		return wsproto.AppendMaskedFrame(nil, opText, p, [4]byte{1, 2, 3, 4})
	}
	parked := func() {
		wait.Until(t, 10*time.Second, "the member parked", func() bool { return h.idle.Parked() == 1 })
	}

	// Each frame is written in two parts, the second frameTimeout/4 after the first.
	for _, tc := range []struct {
		clientID string
		at       int // bytes in the first write; 0: one write
	}{
		{"whole", 0},      // read in one go
		{"split", 5},      // header and part of the mask key
		{"halfheader", 1}, // one byte of the header wakes the reader
	} {
		parked()
		f := send(tc.clientID)
		if tc.at > 0 {
			if _, err := raw.Write(f[:tc.at]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(frameTimeout / 4)
		}
		if _, err := raw.Write(f[tc.at:]); err != nil {
			t.Fatal(err)
		}
		expect(t, c, "ack")
	}

	parked()
	f := send("stalled")
	if _, err := raw.Write(f[:len(f)-10]); err != nil { // all but the last 10 bytes, then nothing
		t.Fatal(err)
	}
	start := time.Now()
	_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			break
		}
	}
	if d := time.Since(start); d < frameTimeout*3/4 || d > frameTimeout+3*time.Second {
		t.Fatalf("a frame stalled halfway was cut after %v, want about %v", d, frameTimeout)
	}
	wait.Until(t, 5*time.Second, "the session gone", func() bool { return h.sessions.Len() == 0 })
}
