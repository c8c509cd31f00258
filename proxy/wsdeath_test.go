package proxy

import (
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

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
			bslot := s.table.Load().apps["web"].pools[Blue].replicas[0]
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
