package proxy

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

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
	bslot := s.table.Load().apps["web"].pools[Blue].replicas[0]

	// A client that reads everything and never answers the close frame.
	_, deafR := rawWSHandshake(t, target, "/ws")
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
	m := &recMetrics{}
	cfg.Metrics = m
	s := startProxy(t, cfg)
	bslot := s.table.Load().apps["web"].pools[Blue].replicas[0]
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
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.clientCuts != 1 || m.cuts != 0 {
		t.Fatalf("counted %d client cuts and %d upstream cuts, want 1 and 0", m.clientCuts, m.cuts)
	}
}
