package proxy

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// Bodies up to maxBufferedBody are read whole before answering; the upstream
// connection must still go back to the pool (not be closed), and every size around
// the threshold must arrive intact, the bigger ones streamed.
func TestBufferedBodiesKeepUpstreamConnection(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	var mu sync.Mutex
	connIDs := map[uint64]bool{}
	blue.handle = func(ctx *fasthttp.RequestCtx) {
		mu.Lock()
		connIDs[ctx.ConnID()] = true
		mu.Unlock()
		n, _ := strconv.Atoi(string(ctx.QueryArgs().Peek("n")))
		ctx.Response.SetBodyRaw(bytes.Repeat([]byte{'x'}, n))
	}
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	c := client(s)
	sizes := []int{0, 1, 100, 4096, 100 << 10, maxBufferedBody - 1, maxBufferedBody, maxBufferedBody + 1, 1 << 20}
	for round := range 3 {
		for _, n := range sizes {
			code, body, h := get(t, c, "a", "/body?n="+strconv.Itoa(n))
			if code != 200 || len(body) != n || h.ContentLength() != n || strings.Count(body, "x") != n {
				t.Fatalf("round %d, size %d: got %d, %d bytes, content-length %d", round, n, code, len(body), h.ContentLength())
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(connIDs) > 2 { // sequential requests: one pooled connection (two if one raced a retry)
		t.Fatalf("%d upstream connections for %d sequential requests, want the pooled one reused", len(connIDs), 3*len(sizes))
	}
	sl := s.table.Load().apps["web"].pools[Blue].replicas[0]
	eventually(t, 5*time.Second, "no request in flight", func() bool { return sl.inFlight.Load() == 0 })
}

// An upstream that promises more body than it sends gets a 502, not a truncated 200,
// and none of its headers reach the client.
func TestTruncatedBufferedBodyIsBadGateway(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	blue.handle = func(ctx *fasthttp.RequestCtx) {
		ctx.HijackSetNoResponse(true)
		ctx.Hijack(func(c net.Conn) {
			_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nX-Secret: leak\r\n\r\nonly a part"))
		})
	}
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	code, body, h := get(t, client(s), "a", "/truncated")
	if code != fasthttp.StatusBadGateway || len(h.Peek("X-Secret")) != 0 || strings.Contains(body, "only a part") {
		t.Fatalf("got %d, X-Secret %q, body %q; want a clean 502", code, h.Peek("X-Secret"), body)
	}
	sl := s.table.Load().apps["web"].pools[Blue].replicas[0]
	eventually(t, 5*time.Second, "no request in flight", func() bool { return sl.inFlight.Load() == 0 })
}
