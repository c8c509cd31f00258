package proxy

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
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
		Apps:        []AppConfig{{Name: "web", Blue: []string{blueAddr}, Green: []string{greenAddr}, Health: fastHealth, Drain: drain}},
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
			bslot := s.table.Load().apps["web"].pools[Blue].replicas[0]
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
