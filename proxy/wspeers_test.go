package proxy

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

// Hostile WebSocket peers: a client or an upstream that completes the handshake and
// then never reads, an upstream that dies, a client that never answers a close frame.
// The drain and shutdown must end on time whatever they do.

// peerTarget says how a raw client reaches the proxy: plain HTTP or TLS.
type peerTarget struct {
	addr string
	tls  *tls.Config // nil: plain
	host string
}

func (p peerTarget) dial(t *testing.T) net.Conn {
	t.Helper()
	var c net.Conn
	var err error
	if p.tls != nil {
		c, err = tls.Dial("tcp", p.addr, p.tls)
	} else {
		c, err = net.Dial("tcp", p.addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startPeerProxy starts a proxy for blue/green with the given drain, reachable over
// plain HTTP or (withTLS) HTTPS only.
func startPeerProxy(t *testing.T, blueAddr, greenAddr string, drain time.Duration, withTLS bool) (*Server, peerTarget) {
	t.Helper()
	cfg := Config{
		HTTPAddr:    "127.0.0.1:0",
		Apps:        []AppConfig{{Name: "web", Blue: blueAddr, Green: greenAddr, Health: fastHealth, Drain: drain}},
		Sites:       []SiteConfig{{Hosts: []string{"*"}, Routes: []RouteConfig{{Path: "/", App: "web"}}}},
		StateFile:   shortTempDir(t) + "/state.json",
		AdminSocket: "",
	}
	if !withTLS {
		s := startProxy(t, cfg)
		return s, peerTarget{addr: s.HTTPAddr(), host: "a.example"}
	}
	tlsCfg, pool := selfSigned(t)
	cfg.Sites[0].Hosts = []string{"a.example"}
	cfg.HTTPSAddr = "127.0.0.1:0"
	cfg.TLSConfig = tlsCfg
	s := startProxy(t, cfg)
	return s, peerTarget{addr: s.HTTPSAddr(), host: "a.example",
		tls: &tls.Config{RootCAs: pool, ServerName: "a.example", NextProtos: []string{"http/1.1"}}}
}

const wsTestKey = "dGhlIHNhbXBsZSBub25jZQ=="

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC11B85"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// rawWSHandshake opens a WebSocket through the proxy on a raw socket and reads the
// 101 head. The caller decides whether to ever read again.
func rawWSHandshake(t *testing.T, p peerTarget, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c := p.dial(t)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + p.host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + wsTestKey + "\r\nOrigin: http://a.example\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	head, err := readHead(br, 8192)
	if err != nil || headStatus(head) != 101 {
		t.Fatalf("handshake: %q %v", head, err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, br
}

// wsFlood makes u a WebSocket server that sends 16 KiB binary messages as fast as
// the connection takes them; written counts the bytes it got out.
func wsFlood(u *upstream) *atomic.Int64 {
	var written atomic.Int64
	up := websocket.FastHTTPUpgrader{CheckOrigin: func(*fasthttp.RequestCtx) bool { return true }}
	msg := make([]byte, 16<<10)
	u.handle = func(ctx *fasthttp.RequestCtx) {
		_ = up.Upgrade(ctx, func(c *websocket.Conn) {
			read := make(chan struct{})
			go func() { // answer the close handshake if one comes
				defer close(read)
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						return
					}
				}
			}()
			for {
				_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
				if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
					break
				}
				written.Add(int64(len(msg)))
			}
			// fasthttp reuses the hijacked reader once this returns: stop reading first.
			_ = rawConn(c.UnderlyingConn()).Close()
			<-read
		})
	}
	return &written
}

// stalled waits until n stops growing for 200 ms: every buffer between the peers is
// full and edge's write to the peer that does not read is blocked.
func stalled(t *testing.T, n *atomic.Int64) {
	t.Helper()
	last, since := int64(-1), time.Now()
	deadline := time.Now().Add(10 * time.Second)
	for time.Since(since) < 200*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("the flood never stalled (%d bytes)", n.Load())
		}
		if v := n.Load(); v != last {
			last, since = v, time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	if last == 0 {
		t.Fatal("nothing was sent")
	}
}

// deafUpstream is a raw TCP upstream: /health gets 200, a WebSocket upgrade gets a
// 101 and then the connection is never read again.
type deafUpstream struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startDeafUpstream(t *testing.T) *deafUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &deafUpstream{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go d.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		d.mu.Lock()
		for _, c := range d.conns {
			c.Close()
		}
		d.mu.Unlock()
	})
	return d
}

func (d *deafUpstream) serve(c net.Conn) {
	d.mu.Lock()
	d.conns = append(d.conns, c)
	d.mu.Unlock()
	head, err := readHead(bufio.NewReader(c), 8192)
	if err != nil {
		c.Close()
		return
	}
	if !strings.Contains(strings.ToLower(string(head)), "upgrade: websocket") {
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		c.Close()
		return
	}
	_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + wsAccept(wsTestKey) + "\r\n\r\n"))
	// never read again; the connection stays open until the test ends
}

// maskedFrame is a client-to-server binary frame with a 64 KiB payload.
func maskedFrame() []byte {
	payload := make([]byte, 64<<10)
	f := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4}
	for i := range payload {
		payload[i] ^= byte(i%4 + 1)
	}
	return append(f, payload...)
}

// TestWebSocketPeerStopsReading: a proxied WebSocket whose client (or upstream) never
// reads while the other side floods it must not hold up a switch, a later switch or
// shutdown. drain: 500ms bounds the switch.
func TestWebSocketPeerStopsReading(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tls        bool
		deafClient bool // else the upstream is deaf and the client floods
	}{
		{"client stops reading, plain", false, true},
		{"client stops reading, tls", true, true},
		{"upstream stops reading, plain", false, false},
		{"upstream stops reading, tls", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			green := startUpstream(t, "green")
			var blueAddr string
			var sent *atomic.Int64
			if tc.deafClient {
				blue := startUpstream(t, "blue")
				sent = wsFlood(blue)
				blueAddr = blue.addr
			} else {
				blueAddr = startDeafUpstream(t).ln.Addr().String()
				sent = new(atomic.Int64)
			}
			s, target := startPeerProxy(t, blueAddr, green.addr, 500*time.Millisecond, tc.tls)
			stuck := func() {
				c, _ := rawWSHandshake(t, target, "/ws")
				if !tc.deafClient {
					frame := maskedFrame()
					go func() {
						for {
							_ = c.SetWriteDeadline(time.Now().Add(20 * time.Second))
							if _, err := c.Write(frame); err != nil {
								return
							}
							sent.Add(int64(len(frame)))
						}
					}()
				}
				stalled(t, sent)
			}
			stuck()
			bslot := s.table.Load().apps["web"].slots[Blue]
			if bslot.ws.len() != 1 {
				t.Fatalf("%d websockets on blue", bslot.ws.len())
			}

			start := time.Now()
			res, err := s.Switch(t.Context(), "web", Green, 5*time.Second)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("switch with a stuck peer and drain 500ms took %s (drain %s)", took, res.Drain.DurationText)
			if took > 1500*time.Millisecond || took < 400*time.Millisecond {
				t.Fatalf("switch took %s with drain 500ms", took)
			}
			if res.Drain.WebSocketsClosed != 1 {
				t.Fatalf("drain %+v", res.Drain)
			}
			eventually(t, 2*time.Second, "the stuck websocket to be gone", func() bool { return bslot.ws.len() == 0 })

			// A later switch is not blocked (409 busy before the fix).
			start = time.Now()
			if _, err := s.Switch(t.Context(), "web", Blue, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 1500*time.Millisecond {
				t.Fatalf("second switch took %s", took)
			}

			// Shutdown with another stuck peer returns by its context.
			sent.Store(0)
			stuck()
			ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
			defer cancel()
			start = time.Now()
			_ = s.Shutdown(ctx)
			took = time.Since(start)
			t.Logf("shutdown with a stuck peer and a 700ms context took %s", took)
			if took > 1500*time.Millisecond {
				t.Fatalf("shutdown took %s with a 700ms context", took)
			}
		})
	}
}

// heldWS is one WebSocket accepted by holdWS; ended receives when its reads end.
type heldWS struct {
	c     *websocket.Conn
	ended chan time.Time
}

// holdWS makes u a WebSocket server that hands each accepted connection to the
// channel and reads it until it fails.
func holdWS(u *upstream) chan heldWS {
	conns := make(chan heldWS, 4)
	up := websocket.FastHTTPUpgrader{CheckOrigin: func(*fasthttp.RequestCtx) bool { return true }}
	u.handle = func(ctx *fasthttp.RequestCtx) {
		_ = up.Upgrade(ctx, func(c *websocket.Conn) {
			h := heldWS{c: c, ended: make(chan time.Time, 1)}
			conns <- h
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					h.ended <- time.Now()
					return
				}
			}
		})
	}
	return conns
}

// TestWebSocketPeerDiesClosesTheOther: when the upstream of a proxied WebSocket dies,
// the client (which only listens) sees its connection end at once, and the other way
// round; the socket leaves the status, on plain HTTP as on HTTPS.
func TestWebSocketPeerDiesClosesTheOther(t *testing.T) {
	for _, tc := range []struct {
		name             string
		tls, upstreamDie bool
	}{
		{"upstream dies, plain", false, true},
		{"upstream dies, tls", true, true},
		{"client dies, plain", false, false},
		{"client dies, tls", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
			conns := holdWS(blue)
			s, target := startPeerProxy(t, blue.addr, green.addr, 5*time.Second, tc.tls)
			c, br := rawWSHandshake(t, target, "/ws")
			var up heldWS
			select {
			case up = <-conns:
			case <-time.After(5 * time.Second):
				t.Fatal("the upstream never saw the websocket")
			}
			bslot := s.table.Load().apps["web"].slots[Blue]
			if n := s.Status().Apps[0].Slots.Blue.WebSockets; n != 1 {
				t.Fatalf("status counts %d websockets", n)
			}
			// The survivor only listens; it must learn at once that the other side is gone.
			ended := make(chan time.Time, 1)
			var err error
			if tc.upstreamDie {
				_ = rawConn(up.c.UnderlyingConn()).Close() // fasthttp's wrapper ignores Close
				go func() {
					_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
					_, err = br.ReadByte()
					ended <- time.Now()
				}()
			} else {
				_ = c.Close()
				ended = up.ended
			}
			killed := time.Now()
			select {
			case at := <-ended:
				took := at.Sub(killed)
				t.Logf("the survivor saw the end %s after the other side died (%v)", took, err)
				if tc.upstreamDie && err == nil || isTimeout(err) || took > time.Second {
					t.Fatalf("survivor read %v after %s; want its connection closed at once", err, took)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the survivor's connection is still open")
			}
			eventually(t, time.Second, "status to drop the websocket", func() bool {
				return bslot.ws.len() == 0 && s.Status().Apps[0].Slots.Blue.WebSockets == 0 && bslot.inFlight.Load() == 0
			})
		})
	}
}

// withSSE adds an endless event stream at /events to u's handler: "data: tick"
// every 50 ms until the connection fails.
func withSSE(u *upstream) {
	next := u.handle
	u.handle = func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) != "/events" {
			next(ctx)
			return
		}
		ctx.SetContentType("text/event-stream")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			for {
				if _, err := w.WriteString("data: tick\n\n"); err != nil {
					return
				}
				if err := w.Flush(); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestDrainIsTheBound: with drain 1s, open WebSockets (one whose client never answers
// a close frame) and an SSE stream, the switch returns within the drain period plus
// a little, and reports what it cut. The close handshake happens inside the period.
func TestDrainIsTheBound(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	wsEcho(blue)
	withSSE(blue)
	const drain = time.Second
	s, target := startPeerProxy(t, blue.addr, green.addr, drain, false)
	bslot := s.table.Load().apps["web"].slots[Blue]

	// A client that reads everything and never answers the close frame.
	deaf, deafR := rawWSHandshake(t, target, "/ws")
	go func() { _, _ = io.Copy(io.Discard, deafR) }()
	// A well-behaved client.
	polite := dialWS(t, s, "/ws")
	echo(t, polite, "hi")
	politeEnd := make(chan time.Time, 1)
	go func() {
		for {
			if _, _, err := polite.ReadMessage(); err != nil {
				politeEnd <- time.Now()
				return
			}
		}
	}()
	// An SSE stream that would run forever.
	sse := target.dial(t)
	_, _ = sse.Write([]byte("GET /events HTTP/1.1\r\nHost: a.example\r\n\r\n"))
	sseEnd := make(chan time.Time, 1)
	go func() {
		_, _ = io.Copy(io.Discard, sse)
		sseEnd <- time.Now()
	}()
	eventually(t, 5*time.Second, "the stream and sockets open", func() bool {
		return bslot.inFlight.Load() == 1 && bslot.ws.len() == 2
	})

	start := time.Now()
	res, err := s.Switch(t.Context(), "web", Green, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	d := res.Drain
	t.Logf("drain %s with setting %s: %s", d.DurationText, drain, res.Message)
	if d.Duration < drain-50*time.Millisecond || d.Duration > drain+400*time.Millisecond {
		t.Fatalf("drain took %s with drain %s", d.Duration, drain)
	}
	if d.Cut != 1 || d.WebSocketsClosed != 2 {
		t.Fatalf("drain %+v: want 1 stream cut and 2 websockets closed", d)
	}
	for name, ch := range map[string]chan time.Time{"sse": sseEnd, "polite websocket": politeEnd} {
		select {
		case at := <-ch:
			if at.Sub(start) > drain+800*time.Millisecond {
				t.Fatalf("%s ended %s after the switch started", name, at.Sub(start))
			}
			t.Logf("%s ended %s after the switch started", name, at.Sub(start).Round(time.Millisecond))
		case <-time.After(3 * time.Second):
			t.Fatalf("%s still open", name)
		}
	}
	eventually(t, time.Second, "blue empty", func() bool { return bslot.ws.len() == 0 && bslot.inFlight.Load() == 0 })
	_ = deaf
}

// TestStreamToClientThatStopsReadingIsCut: a streamed response (here an endless
// chunked body) to a client that stops reading is cut after the write timeout; the
// request leaves in-flight.
func TestStreamToClientThatStopsReadingIsCut(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	chunk := strings.Repeat("x", 32<<10)
	blue.handle = func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			for {
				if _, err := w.WriteString(chunk); err != nil {
					return
				}
				if err := w.Flush(); err != nil {
					return
				}
			}
		})
	}
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Limits.WriteTimeout = 500 * time.Millisecond
	s := startProxy(t, cfg)
	bslot := s.table.Load().apps["web"].slots[Blue]
	c, err := net.Dial("tcp", s.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_, _ = c.Write([]byte("GET /flood HTTP/1.1\r\nHost: a\r\n\r\n"))
	eventually(t, 5*time.Second, "the stream in flight", func() bool { return bslot.inFlight.Load() == 1 })
	start := time.Now()
	eventually(t, 10*time.Second, "the stuck stream to be cut", func() bool { return bslot.inFlight.Load() == 0 })
	t.Logf("stream to a client that stopped reading cut after %s (write timeout 500ms)", time.Since(start).Round(time.Millisecond))
	// edge closed its side: reading what is buffered ends in EOF or a reset, not a timeout.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.Copy(io.Discard, c)
	if isTimeout(err) {
		t.Fatalf("the connection is still open: %v", err)
	}
}
