package proxy

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// connectionNames returns the lowercase names listed by every Connection field.
func connectionNames(fields [][2]string) map[string]bool {
	out := map[string]bool{}
	for _, kv := range fields {
		if strings.EqualFold(kv[0], "connection") {
			for _, tok := range strings.Split(kv[1], ",") {
				out[strings.ToLower(strings.Trim(tok, " \t"))] = true
			}
		}
	}
	return out
}

// mustGo reports a field that may not cross edge: hop-by-hop by name or named by a
// Connection field of the same message.
func mustGo(k string, listed map[string]bool) bool {
	return hopByHopName([]byte(k)) || listed[strings.ToLower(k)]
}

// FuzzStripResponseHopByHop: for any upstream response header, stripping terminates,
// leaves no hop-by-hop or Connection-named field, and keeps every other field.
func FuzzStripResponseHopByHop(f *testing.F) {
	f.Add("Connection: X-A, close\r\nX-A: 1\r\nX-B: 2\r\nKeep-Alive: 5\r\n")
	f.Add("Connection: " + manyNames(25, ",") + "\r\n" + manyFields(30))
	f.Add("Connection: " + manyNames(300, ", ") + "\r\nConnection: x-b\r\nX-B: 1\r\n" + manyFields(10))
	f.Add("Proxy-Authenticate: Basic\r\nUpgrade: h2c\r\nTrailer: X\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=b\r\n")
	f.Add("Connection: Content-Type, Server\r\nContent-Type: text/plain\r\nServer: x\r\nX-Kept: yes\r\n")
	f.Fuzz(func(t *testing.T, fields string) {
		var h fasthttp.ResponseHeader
		raw := "HTTP/1.1 200 OK\r\n" + fields + "\r\n"
		if err := h.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return
		}
		h.SetNoDefaultContentType(true) // as forward does: edge adds no Content-Type
		var before [][2]string
		for k, v := range h.All() {
			before = append(before, [2]string{string(k), string(v)})
		}
		listed := connectionNames(before)
		stripResponseHopByHop(&h)
		after := map[string][]string{}
		for k, v := range h.All() {
			if mustGo(string(k), listed) {
				t.Fatalf("%q survived (listed %v) in %q", k, listed, h.String())
			}
			after[strings.ToLower(string(k))] = append(after[strings.ToLower(string(k))], string(v))
		}
		for _, kv := range before {
			if mustGo(kv[0], listed) || strings.EqualFold(kv[0], "content-length") {
				continue
			}
			found := false
			for _, v := range after[strings.ToLower(kv[0])] {
				found = found || v == kv[1]
			}
			if !found {
				t.Fatalf("end-to-end %q: %q lost; after %v", kv[0], kv[1], after)
			}
		}
	})
}

// FuzzAppendUpstreamRequest: for any request edge admits, the bytes it writes
// upstream read back as exactly one HTTP/1.1 request with the client's body and the
// target's host; it is HTTP/1.1 with an origin-form target, has no hop-by-hop, Connection-named,
// underscore or client-supplied forwarding field, has exactly one of each of edge's
// forwarding headers, and carries every other field of the client's header section.
func FuzzAppendUpstreamRequest(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: " + manyNames(25, ",") + "\r\n" + manyFields(30) + "\r\n",
		"GET http://a.example/x HTTP/1.1\r\nHost: evil\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-User: admin\r\n\r\n",
		"GET / HTTP/1.0\r\nX_Real_IP: 1\r\nUpgrade: h2c\r\nHTTP2-Settings: x\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\n\r\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var ctx fasthttp.RequestCtx
		ctx.Init2(benchConn{}, quietLogger{}, false)
		if err := ctx.Request.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return
		}
		tg, no := admit(&ctx.Request.Header)
		if no != nil || len(tg.host) == 0 { // no site has an empty name: routing answers 404
			return
		}
		var in [][2]string
		r := rawFields{b: ctx.Request.Header.RawHeaders()}
		for r.next() {
			in = append(in, [2]string{string(r.k), string(r.v)})
		}
		listed := connectionNames(in)
		upgrade := isWebSocketUpgrade(&ctx.Request.Header)
		wire, _ := appendUpstreamRequest(nil, &ctx, tg, []byte("rid-1"), upgrade)
		wire = append(wire, ctx.Request.Body()...)
		var back fasthttp.Request // what the upstream reads is one whole request, and only that
		br := bufio.NewReader(bytes.NewReader(wire))
		if err := back.Read(br); err != nil {
			t.Fatalf("the upstream cannot read %q: %v", wire, err)
		}
		if br.Buffered() != 0 || !bytes.Equal(back.Body(), ctx.Request.Body()) || !bytes.EqualFold(back.Host(), tg.host) {
			t.Fatalf("read back body %q host %q, %d bytes left, from %q", back.Body(), back.Host(), br.Buffered(), wire)
		}
		head, _, _ := strings.Cut(string(wire), "\r\n\r\n")
		lines := strings.Split(head, "\r\n")
		if m, rest, _ := strings.Cut(lines[0], " "); m == "" || !strings.HasSuffix(rest, " HTTP/1.1") || !strings.HasPrefix(rest, "/") {
			t.Fatalf("request line %q", lines[0])
		}
		got := map[string][]string{}
		for _, l := range lines[1:] {
			k, v, _ := strings.Cut(l, ": ")
			lk := strings.ToLower(k)
			got[lk] = append(got[lk], v)
			if strings.Contains(k, "_") {
				t.Fatalf("underscore field %q forwarded", k)
			}
			if upgrade && (lk == "upgrade" || lk == "connection") {
				continue
			}
			if mustGo(k, listed) {
				t.Fatalf("%q forwarded (listed %v): %q", k, listed, head)
			}
		}
		for _, own := range []string{"x-forwarded-for", "x-real-ip", "x-forwarded-proto", "x-forwarded-host", "x-request-id", "host"} {
			if len(got[own]) != 1 {
				t.Fatalf("%s sent %d times: %q", own, len(got[own]), head)
			}
		}
		if got["x-forwarded-for"][0] != benchRemote.IP.String() {
			t.Fatalf("X-Forwarded-For %q", got["x-forwarded-for"])
		}
		for _, kv := range in {
			lk := strings.ToLower(kv[0])
			if mustGo(kv[0], listed) || edgeOwnedHeader([]byte(kv[0])) || strings.Contains(kv[0], "_") ||
				lk == "cookie" || lk == "content-type" || lk == "user-agent" || lk == "transfer-encoding" {
				continue
			}
			found := false
			for _, v := range got[lk] {
				found = found || v == kv[1]
			}
			if !found {
				t.Fatalf("end-to-end %q: %q lost: %q", kv[0], kv[1], head)
			}
		}
	})
}

// FuzzRawFields: the raw header check terminates on anything; what it accepts are
// token names and clean values, and writing them back out reads back the same.
func FuzzRawFields(f *testing.F) {
	for _, seed := range []string{
		"Host: a\r\nX: 1\r\n\r\n", "X: 1\r\n  fold\r\n\r\n", "X : 1\r\n\r\n", "X: a\rb\r\n\r\n", "X: a\x00\r\n\r\n",
		"X: 1\nY: 2\n\n", "X:\r\n\r\n", ":x\r\n\r\n", "X: 1\r\n", "X_Y: 1\r\n\r\n", "X: \x80\xff\t\r\n\r\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := rawFields{b: []byte(raw)}
		var fields [][2]string
		var again strings.Builder
		for r.next() {
			if len(r.k) == 0 {
				t.Fatal("empty name accepted")
			}
			for _, c := range r.k {
				if !isTokenChar(c) {
					t.Fatalf("name %q accepted", r.k)
				}
			}
			for _, c := range r.v {
				if c < ' ' && c != '\t' || c == 0x7f {
					t.Fatalf("value %q accepted", r.v)
				}
			}
			if len(r.v) > 0 && (r.v[0] == ' ' || r.v[0] == '\t' || r.v[len(r.v)-1] == ' ' || r.v[len(r.v)-1] == '\t') {
				t.Fatalf("value %q not trimmed", r.v)
			}
			fields = append(fields, [2]string{string(r.k), string(r.v)})
			again.WriteString(string(r.k) + ": " + string(r.v) + "\r\n")
		}
		if r.bad != "" {
			return
		}
		again.WriteString("\r\n")
		r2 := rawFields{b: []byte(again.String())}
		i := 0
		for r2.next() {
			if i >= len(fields) || string(r2.k) != fields[i][0] || string(r2.v) != fields[i][1] {
				t.Fatalf("round trip changed field %d: %q", i, again.String())
			}
			i++
		}
		if r2.bad != "" || i != len(fields) {
			t.Fatalf("round trip: %d of %d fields, %q", i, len(fields), r2.bad)
		}
	})
}

// FuzzReadHead: the response head reader terminates, never returns more than the
// limit, and returns exactly the input up to and including the first empty line.
func FuzzReadHead(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nframes", "HTTP/1.1 200 OK\n\nbody",
		"\r\n", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n", "HTTP/1.1 200 OK\r\nX: 1\r\n",
	} {
		f.Add(seed, 4096)
	}
	f.Fuzz(func(t *testing.T, in string, limit int) {
		if limit < 0 || limit > 1<<16 {
			return
		}
		head, err := readHead(bufio.NewReaderSize(strings.NewReader(in), 16), limit)
		if err != nil {
			if head != nil {
				t.Fatalf("error %v with a head", err)
			}
			return
		}
		if len(head) > limit || !strings.HasPrefix(in, string(head)) {
			t.Fatalf("head %q from %q (limit %d)", head, in, limit)
		}
		if !bytes.HasSuffix(head, []byte("\n\n")) && !bytes.HasSuffix(head, []byte("\n\r\n")) {
			t.Fatalf("head %q does not end with an empty line", head)
		}
		body := head[:len(head)-1]
		if i := bytes.Index(body, []byte("\n\n")); i >= 0 && i+2 < len(head) {
			t.Fatalf("head %q goes past an earlier empty line", head)
		}
		if i := bytes.Index(body, []byte("\n\r\n")); i >= 0 && i+3 < len(head) {
			t.Fatalf("head %q goes past an earlier empty line", head)
		}
		if s := headStatus(head); s != 0 && (s < 100 || s > 999) {
			t.Fatalf("status %d", s)
		}
	})
}

// FuzzDecodeState: a state file either decodes, and then encodes to a file that
// decodes to the same state, or is refused with an error saying what is wrong.
func FuzzDecodeState(f *testing.F) {
	for _, seed := range []string{
		`{"version":1,"apps":{"web":{"active":"green","previous":"blue","changed_at":"2026-01-02T03:04:05Z"}}}`,
		`{"version":1,"apps":{"a":{"active":"blue"}}}`, `{"version":2,"apps":{}}`, `{"version":1,"apps":{"a":{"active":"red"}}}`,
		`{"version":1,"apps":{"a":{"active":"blue","changed_at":"0000-01-01T00:00:00+01:00"}}}`, `not json`, `{"version":1}`,
		`{"version":1,"apps":{"\u00ff\ud800":{"active":"blue","changed_at":"9999-12-31T23:59:59-01:00"}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		apps, err := decodeState(data)
		if err != nil {
			if apps != nil || err.Error() == "" {
				t.Fatalf("error %v with state %v", err, apps)
			}
			return
		}
		enc, err := encodeState(apps)
		if err != nil {
			t.Fatalf("decoded state %v cannot be written back: %v", apps, err)
		}
		again, err := decodeState(enc)
		if err != nil {
			t.Fatalf("re-decoding %q: %v", enc, err)
		}
		if len(again) != len(apps) {
			t.Fatalf("%d apps, then %d", len(apps), len(again))
		}
		for name, a := range apps {
			b, ok := again[name]
			at, bt := a.ChangedAt, b.ChangedAt
			a.ChangedAt, b.ChangedAt = time.Time{}, time.Time{}
			if !ok || a != b || !at.Equal(bt) {
				t.Fatalf("app %q: %+v, then %+v", name, a, b)
			}
		}
	})
}
