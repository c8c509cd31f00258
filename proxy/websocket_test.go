package proxy

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

// wsUpstream makes u an echo WebSocket server at /ws that records the close code it
// receives from edge.
type wsRecorder struct {
	mu    sync.Mutex
	codes []int
	hdr   []map[string]string
}

func (r *wsRecorder) closeCodes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.codes...)
}

func wsEcho(u *upstream) *wsRecorder {
	rec := &wsRecorder{}
	up := websocket.FastHTTPUpgrader{CheckOrigin: func(*fasthttp.RequestCtx) bool { return true }}
	u.handle = func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/forbidden" {
			ctx.Error("no websockets here", fasthttp.StatusForbidden)
			return
		}
		hdr := map[string]string{}
		for k, v := range ctx.Request.Header.All() {
			hdr[string(k)] = string(v)
		}
		rec.mu.Lock()
		rec.hdr = append(rec.hdr, hdr)
		rec.mu.Unlock()
		_ = up.Upgrade(ctx, func(c *websocket.Conn) {
			defer c.Close()
			for {
				mt, msg, err := c.ReadMessage()
				if err != nil {
					var ce *websocket.CloseError
					if errors.As(err, &ce) {
						rec.mu.Lock()
						rec.codes = append(rec.codes, ce.Code)
						rec.mu.Unlock()
					}
					return
				}
				if err := c.WriteMessage(mt, append([]byte(u.name+":"), msg...)); err != nil {
					return
				}
			}
		})
	}
	return rec
}

func dialWS(t *testing.T, s *Server, path string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("ws://"+s.HTTPAddr()+path, http.Header{"Origin": {"http://a.example"}})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func echo(t *testing.T, c *websocket.Conn, msg string) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	_, got, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(got)
}

func TestWebSocketPassthrough(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	rec := wsEcho(blue)
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	c := dialWS(t, s, "/ws")
	if got := echo(t, c, "hello"); got != "blue:hello" {
		t.Fatalf("echo %q", got)
	}
	big := strings.Repeat("x", 200<<10)
	if got := echo(t, c, big); got != "blue:"+big {
		t.Fatalf("big echo: %d bytes", len(got))
	}
	h := rec.hdr[0]
	if h["X-Forwarded-For"] != "127.0.0.1" || h["Upgrade"] != "websocket" || h["Connection"] != "Upgrade" || h["X-Request-Id"] == "" {
		t.Fatalf("upstream handshake headers %v", h)
	}
	sl := s.table.Load().apps["web"].pools[Blue].replicas[0]
	if sl.ws.len() != 1 || sl.inFlight.Load() != 0 {
		t.Fatalf("tracking: %d websockets, %d in flight", sl.ws.len(), sl.inFlight.Load())
	}
	if st := s.Status().Apps[0].Slots.Blue; st.WebSockets != 1 {
		t.Fatalf("status %+v", st)
	}
	c.Close()
	eventually(t, 5*time.Second, "the websocket to be forgotten", func() bool { return sl.ws.len() == 0 })
}

func TestWebSocketRefusedByUpstreamIsForwarded(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	wsEcho(blue)
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	_, resp, err := d.Dial("ws://"+s.HTTPAddr()+"/forbidden", nil)
	if err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("want 403, got %v %v", resp, err)
	}
}

// TestWebSocketDrainedAtDeadline keeps a proxied WebSocket open across a switch: it
// works until the end of the drain period, then both sides get a close frame with
// 1001 inside it.
func TestWebSocketDrainedAtDeadline(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	rec := wsEcho(blue)
	wsEcho(green)
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Apps[0].Drain = 1500 * time.Millisecond
	s := startProxy(t, cfg)
	c := dialWS(t, s, "/ws")
	if got := echo(t, c, "before"); got != "blue:before" {
		t.Fatalf("echo %q", got)
	}
	type result struct {
		res *SwitchResult
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		r, err := s.Switch(context.Background(), "web", Green, 5*time.Second)
		done <- result{r, err, time.Now()}
	}()
	eventually(t, 5*time.Second, "the flip", func() bool { return s.Status().Apps[0].Active == "green" })
	// Still open and still on blue during the drain period.
	if got := echo(t, c, "during"); got != "blue:during" {
		t.Fatalf("echo during drain %q", got)
	}
	// New sockets go to green.
	if got := echo(t, dialWS(t, s, "/ws"), "new"); got != "green:new" {
		t.Fatalf("new socket %q", got)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := c.ReadMessage()
	closedAt := time.Since(start)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("client got %v, want close 1001", err)
	}
	// The close handshake comes out of the drain period: it starts closeGrace before
	// the deadline, and the switch returns by the deadline.
	drain := cfg.Apps[0].Drain
	if earliest := drain - closeGrace(drain) - 100*time.Millisecond; closedAt < earliest {
		t.Fatalf("closed after %s, before the last %s of the drain period", closedAt, closeGrace(drain))
	}
	r := <-done
	if r.err != nil || r.res.Drain.WebSocketsClosed != 1 {
		t.Fatalf("switch: %+v %v", r.res, r.err)
	}
	if r.res.Drain.Duration > drain+400*time.Millisecond {
		t.Fatalf("drain took %s with drain %s", r.res.Drain.Duration, drain)
	}
	eventually(t, 5*time.Second, "the upstream to see 1001", func() bool {
		codes := rec.closeCodes()
		return len(codes) == 1 && codes[0] == websocket.CloseGoingAway
	})
}

func TestWebSocketClosedOnShutdown(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	wsEcho(blue)
	s, err := New(oneApp(blue, green, shortTempDir(t)), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	c := dialWS(t, s, "/ws")
	echo(t, c, "hi")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go s.Shutdown(ctx) //nolint:errcheck
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("client got %v, want close 1001", err)
	}
}
