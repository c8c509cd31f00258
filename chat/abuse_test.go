package chat_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/chat/chattest"
	"github.com/edge-server/edge/internal/wsproto"
	"github.com/fasthttp/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// healthy checks that the server still serves a well-behaved client.
func healthy(t *testing.T, srv *chattest.Server, c *tclient, n int) {
	t.Helper()
	c.say("ok", fmt.Sprintf("healthy-%d", n), "still here")
	id := c.waitType("ack").ID
	c.waitMessage(id)
}

func TestBadFramesGetErrorsAndKeepConnection(t *testing.T) {
	srv := chattest.Start(t, chat.Config{MaxViolations: 1000}, nil)
	good := connect(t, srv, anon("good"))
	good.join("ok", nil)
	c := connect(t, srv, anon("bad"))
	c.join("ok", nil)
	long := strings.Repeat("가", 2001)
	cases := []struct {
		name, frame, code string
	}{
		{"truncated JSON", `{"type":"send",`, "bad_request"},
		{"not an object", `[1,2,3]`, "bad_request"},
		{"string", `"join"`, "bad_request"},
		{"empty object", `{}`, "bad_request"},
		{"unknown type", `{"type":"shout","room":"ok"}`, "bad_request"},
		{"wrong field type", `{"type":"join","room":"ok","after":"12"}`, "bad_request"},
		{"negative after", `{"type":"join","room":"ok","after":-1}`, "bad_request"},
		{"room with space", `{"type":"join","room":"a b"}`, "invalid_room"},
		{"room too long", `{"type":"join","room":"` + strings.Repeat("r", 65) + `"}`, "invalid_room"},
		{"empty room", `{"type":"join","room":""}`, "invalid_room"},
		{"room with slash", `{"type":"send","room":"../x","client_id":"a","content":"x"}`, "invalid_room"},
		{"missing client_id", `{"type":"send","room":"ok","content":"x"}`, "invalid_client_id"},
		{"bad client_id", `{"type":"send","room":"ok","client_id":"a b","content":"x"}`, "invalid_client_id"},
		{"blank content", `{"type":"send","room":"ok","client_id":"b1","content":"  \n\t "}`, "invalid_content"},
		{"content too long", `{"type":"send","room":"ok","client_id":"b2","content":"` + long + `"}`, "invalid_content"},
		{"NUL in content", `{"type":"send","room":"ok","client_id":"b3","content":"a\u0000b"}`, "invalid_content"},
		{"lone surrogate", `{"type":"send","room":"ok","client_id":"b4","content":"\ud800"}`, "invalid_content"},
		{"zero-width only", `{"type":"send","room":"ok","client_id":"b6","content":"\u200b\u200c\u200d\u2060"}`, "invalid_content"},
		{"BOM and bidi only", `{"type":"send","room":"ok","client_id":"b7","content":" \ufeff\u202e\u2066\u2069 "}`, "invalid_content"},
		{"Hangul fillers only", `{"type":"send","room":"ok","client_id":"b8","content":"\u3164\u115f\u1160"}`, "invalid_content"},
		{"not joined", `{"type":"send","room":"elsewhere","client_id":"b5","content":"hi"}`, "not_joined"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.sendRaw(websocket.TextMessage, []byte(tc.frame)); err != nil {
				t.Fatal(err)
			}
			f := c.waitType("error")
			if f.Code != tc.code || f.Text == "" {
				t.Fatalf("got error %q (%s), want %q", f.Code, f.Text, tc.code)
			}
			healthy(t, srv, good, i)
		})
	}
	t.Run("binary frame", func(t *testing.T) {
		_ = c.sendRaw(websocket.BinaryMessage, []byte(`{"type":"join","room":"ok"}`))
		if f := c.waitType("error"); f.Code != "bad_request" {
			t.Fatalf("got %+v", f)
		}
	})
	// The connection survived all of that.
	c.say("ok", "fine", strings.Repeat("가", 2000))
	if ack := c.waitType("ack"); ack.ClientID != "fine" {
		t.Fatalf("ack = %+v", ack)
	}
}

func TestHostileInputClosesWithDocumentedCode(t *testing.T) {
	srv := chattest.Start(t, chat.Config{MessageRate: 5, MessageBurst: 5, MaxViolations: 5, MaxFrameBytes: 4096}, nil)
	good := connect(t, srv, anon("good"))
	good.join("ok", nil)
	cases := []struct {
		name string
		do   func(c *tclient)
		code int
		err  string // error frame expected before the close, if any
	}{
		{"oversize frame", func(c *tclient) {
			_ = c.sendRaw(websocket.TextMessage, []byte(`{"type":"join","room":"`+strings.Repeat("x", 5000)+`"}`))
		}, chat.CloseTooBig, "too_large"},
		{"invalid UTF-8", func(c *tclient) {
			_ = c.sendRaw(websocket.TextMessage, []byte("{\"type\":\"join\",\"room\":\"\xff\xfe\"}"))
		}, chat.CloseInvalidUTF8, ""},
		{"flood", func(c *tclient) {
			for range 60 {
				_ = c.sendRaw(websocket.TextMessage, []byte(`{"type":"leave","room":"ok"}`))
			}
		}, chat.ClosePolicy, "rate_limited"},
		{"bad frames repeated", func(c *tclient) {
			for range 20 {
				_ = c.sendRaw(websocket.TextMessage, []byte(`{nope`))
			}
		}, chat.ClosePolicy, "bad_request"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := connect(t, srv, anon(fmt.Sprintf("hostile%d", i)))
			tc.do(c)
			sawErr := false
			for f := range drain(c) {
				if f.Type == "error" && f.Code == tc.err {
					sawErr = true
				}
			}
			if code := c.waitClose(); code != tc.code {
				t.Fatalf("close code %d (%v), want %d", code, c.err, tc.code)
			}
			if tc.err != "" && !sawErr {
				t.Fatalf("no %s error frame before the close", tc.err)
			}
			healthy(t, srv, good, i)
		})
	}
}

func mint(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBadTokensAreRefused(t *testing.T) {
	srv := chattest.Start(t, chat.Config{}, nil)
	good := connect(t, srv, anon("good"))
	good.join("ok", nil)
	valid, _ := newSession(t, srv, anon("victim"))
	parts := strings.Split(valid, ".")
	now := time.Now()
	sub := good.user.ID
	claims := func(exp time.Time) jwt.MapClaims {
		return jwt.MapClaims{"iss": "edge-chat", "sub": sub, "iat": now.Add(-time.Hour).Unix(), "exp": exp.Unix()}
	}
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	tokens := map[string]string{
		"missing":        "",
		"garbage":        "not-a-token",
		"forged":         mint(t, jwt.SigningMethodHS256, []byte("some other key that is long enough!!"), claims(now.Add(time.Hour))),
		"expired":        mint(t, jwt.SigningMethodHS256, chattest.Secret, claims(now.Add(-time.Minute))),
		"no expiry":      mint(t, jwt.SigningMethodHS256, chattest.Secret, jwt.MapClaims{"iss": "edge-chat", "sub": sub}),
		"HS512":          mint(t, jwt.SigningMethodHS512, chattest.Secret, claims(now.Add(time.Hour))),
		"alg none":       none,
		"tampered":       parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"edge-chat","sub":"`+sub+`","exp":9999999999}`)) + "." + parts[2],
		"wrong issuer":   mint(t, jwt.SigningMethodHS256, chattest.Secret, jwt.MapClaims{"iss": "x", "sub": sub, "exp": now.Add(time.Hour).Unix()}),
		"bad subject":    mint(t, jwt.SigningMethodHS256, chattest.Secret, jwt.MapClaims{"iss": "edge-chat", "sub": "admin", "exp": now.Add(time.Hour).Unix()}),
		"oversize token": strings.Repeat("a", 2000),
	}
	i := 0
	for name, tok := range tokens {
		t.Run(name, func(t *testing.T) {
			c := connectToken(t, srv, tok)
			f := c.waitType("error")
			if f.Code != "unauthorized" {
				t.Fatalf("error %+v", f)
			}
			if code := c.waitClose(); code != chat.CloseUnauthorized {
				t.Fatalf("close code %d, want %d", code, chat.CloseUnauthorized)
			}
			i++
			healthy(t, srv, good, i)
		})
	}
}

func TestOriginAllowlist(t *testing.T) {
	srv := chattest.Start(t, chat.Config{Origins: []string{"https://blog.example.com"}}, nil)
	token, _ := newSession(t, srv, anon("o"))
	for _, tc := range []struct {
		origin string
		status int
	}{
		{"https://evil.example.com", 403},
		{"https://blog.example.com.evil.com", 403},
		{"null", 403},
		{"https://blog.example.com", 101},
		{"HTTPS://BLOG.EXAMPLE.COM", 101},
		{"http://" + srv.Addr, 101}, // same origin
		{"", 101},                   // not a browser
	} {
		hdr := http.Header{}
		if tc.origin != "" {
			hdr.Set("Origin", tc.origin)
		}
		conn, res, err := dialWS(srv, token, hdr)
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		if status != tc.status {
			t.Errorf("Origin %q: status %d (%v), want %d", tc.origin, status, err, tc.status)
		}
		if conn != nil {
			conn.Close()
		}
	}
}

func TestPerIPConnectionCap(t *testing.T) {
	srv := chattest.Start(t, chat.Config{MaxConnsPerIP: 2}, nil)
	token, _ := newSession(t, srv, anon("ip"))
	a := connectToken(t, srv, token)
	a.waitType("welcome")
	b := connectToken(t, srv, token)
	b.waitType("welcome")
	if _, res, err := dialWS(srv, token, nil); err == nil || res == nil || res.StatusCode != 429 {
		t.Fatalf("third connection: %v", err)
	}
	a.conn.Close()
	eventually(t, "a slot to free up", func() bool {
		c, _, err := dialWS(srv, token, nil)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// rawConn upgrades with a hand-written handshake, so that it can send frames no
// WebSocket library would (unmasked, reserved bits, absurd lengths).
func rawConn(t *testing.T, srv *chattest.Server, token string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	path := strings.TrimPrefix(srv.WSURL(token), "ws://"+srv.Addr)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, srv.Addr)
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", res, err)
	}
	return c, br
}

// readClose reads server frames until a close frame and returns its code.
func readClose(t *testing.T, c net.Conn, br *bufio.Reader) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitLong))
	for {
		var h [2]byte
		if _, err := br.Read(h[:1]); err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		if _, err := br.Read(h[1:]); err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		n := int(h[1] & 0x7f)
		if n == 126 {
			var l [2]byte
			_, _ = br.Read(l[:1])
			_, _ = br.Read(l[1:])
			n = int(l[0])<<8 | int(l[1])
		}
		p := make([]byte, n)
		for got := 0; got < n; {
			k, err := br.Read(p[got:])
			if err != nil {
				t.Fatalf("reading frame: %v", err)
			}
			got += k
		}
		if h[0]&0x0f == 0x8 {
			return int(p[0])<<8 | int(p[1])
		}
	}
}

func TestMalformedWireFramesCloseWithProtocolError(t *testing.T) {
	srv := chattest.Start(t, chat.Config{}, nil)
	token, _ := newSession(t, srv, anon("raw"))
	good := connect(t, srv, anon("good"))
	good.join("ok", nil)
	cases := map[string]struct {
		bytes []byte
		code  int
	}{
		"unmasked":              {[]byte{0x81, 0x02, '{', '}'}, chat.CloseProtocol},
		"reserved bits":         {[]byte{0xC1, 0x80, 0, 0, 0, 0}, chat.CloseProtocol},
		"unknown opcode":        {[]byte{0x83, 0x80, 0, 0, 0, 0}, chat.CloseProtocol},
		"fragmented ping":       {[]byte{0x09, 0x80, 0, 0, 0, 0}, chat.CloseProtocol},
		"long control frame":    {[]byte{0x89, 0xFE, 0x00, 0x7E}, chat.CloseProtocol},
		"2^63 length":           {[]byte{0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0}, chat.CloseProtocol},
		"1 GiB length":          {[]byte{0x81, 0xFF, 0, 0, 0, 0, 0x40, 0, 0, 0}, chat.CloseTooBig},
		"stray continuation":    {[]byte{0x80, 0x80, 0, 0, 0, 0}, chat.CloseProtocol},
		"text inside fragments": {[]byte{0x01, 0x81, 0, 0, 0, 0, '{', 0x81, 0x81, 0, 0, 0, 0, '}'}, chat.CloseProtocol},
	}
	n := 0
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, br := rawConn(t, srv, token)
			if _, err := c.Write(tc.bytes); err != nil {
				t.Fatal(err)
			}
			if code := readClose(t, c, br); code != tc.code {
				t.Fatalf("close code %d, want %d", code, tc.code)
			}
			n++
			healthy(t, srv, good, n)
		})
	}
}

// A peer's close frame is answered with its own code when that code may be sent,
// 1000 when it carried none, and 1002 when it is malformed; 1005/1006/1015 are never
// echoed (RFC 6455 7.4).
func TestCloseFrameReplies(t *testing.T) {
	srv := chattest.Start(t, chat.Config{}, nil)
	token, _ := newSession(t, srv, anon("closer"))
	closeOf := func(p []byte) []byte {
		return wsproto.AppendMaskedFrame(nil, wsproto.OpClose, p, [4]byte{9, 8, 7, 6})
	}
	code := func(c uint16, reason ...byte) []byte { return append([]byte{byte(c >> 8), byte(c)}, reason...) }
	cases := map[string]struct {
		payload []byte
		want    int
	}{
		"no code":          {nil, 1000},
		"1000":             {code(1000, 'o', 'k'), 1000},
		"1001":             {code(1001), 1001},
		"3000":             {code(3000), 3000},
		"4999":             {code(4999), 4999},
		"1 byte":           {[]byte{0x03}, 1002},
		"999":              {code(999), 1002},
		"1004":             {code(1004), 1002},
		"1005":             {code(1005), 1002},
		"1006":             {code(1006), 1002},
		"1015":             {code(1015), 1002},
		"1016":             {code(1016), 1002},
		"2999":             {code(2999), 1002},
		"5000":             {code(5000), 1002},
		"non-UTF-8 reason": {code(1000, 0xff, 0xfe), 1002},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, br := rawConn(t, srv, token)
			if _, err := c.Write(closeOf(tc.payload)); err != nil {
				t.Fatal(err)
			}
			if got := readClose(t, c, br); got != tc.want {
				t.Fatalf("close code %d, want %d", got, tc.want)
			}
		})
	}
}
