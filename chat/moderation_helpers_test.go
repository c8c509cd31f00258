package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edge-server/edge/chat/chattest"
	"github.com/fasthttp/websocket"
)

// fromAddr is an HTTP client whose connections come from a loopback source address
// (127.0.0.0/8 is all local on Linux), to test per-address limits and range bans.
func fromAddr(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

type sessionAnswer struct {
	status     int
	retryAfter string
	code       string
	token      string
}

// sessionFrom asks srv for a session from source address src with extra headers.
func sessionFrom(t testing.TB, srv *chattest.Server, src, anon string, hdr map[string]string) sessionAnswer {
	t.Helper()
	body := []byte(`{}`)
	if anon != "" {
		body, _ = json.Marshal(map[string]string{"anon_id": anon})
	}
	req, _ := http.NewRequest("POST", srv.URL+"api/session", bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := fromAddr(src).Do(req)
	if err != nil {
		t.Fatalf("POST api/session from %s: %v", src, err)
	}
	defer res.Body.Close()
	var out struct {
		Token string `json:"token"`
		Code  string `json:"code"`
	}
	_ = json.NewDecoder(res.Body).Decode(&out)
	return sessionAnswer{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After"), code: out.Code, token: out.Token}
}

// connectFrom opens a session and a WebSocket from src and waits for the welcome.
func connectFrom(t testing.TB, srv *chattest.Server, src, anon string) *tclient {
	t.Helper()
	a := sessionFrom(t, srv, src, anon, nil)
	if a.status != 200 {
		t.Fatalf("session from %s: %d %s", src, a.status, a.code)
	}
	c := dialFrom(t, srv, src, a.token)
	w := c.waitType("welcome")
	c.user = w.User
	return c
}

func dialFrom(t testing.TB, srv *chattest.Server, src, token string) *tclient {
	t.Helper()
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: nd.DialContext}
	conn, _, err := d.Dial(srv.WSURL(token), nil)
	if err != nil {
		t.Fatalf("dialing ws from %s: %v", src, err)
	}
	c := &tclient{t: t, conn: conn, token: token, frames: make(chan inFrame, 1<<15), done: make(chan struct{})}
	go c.read()
	t.Cleanup(func() { conn.Close() })
	return c
}

// admin serves srv's moderation API on a loopback listener (cmd/edge puts it on the
// admin unix socket) and calls it.
type admin struct {
	t   testing.TB
	url string
}

func newAdmin(t testing.TB, srv *chattest.Server) *admin {
	hs := httptest.NewServer(srv.Hub.AdminHandler())
	t.Cleanup(hs.Close)
	return &admin{t: t, url: hs.URL}
}

// call returns the status and the decoded body.
func (a *admin) call(method, path string, in any) (int, map[string]any) {
	a.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, a.url+path, body)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		a.t.Fatalf("%s %s: not JSON: %v", method, path, err)
	}
	return res.StatusCode, out
}

func (a *admin) ok(method, path string, in any) map[string]any {
	a.t.Helper()
	status, out := a.call(method, path, in)
	if status != 200 {
		a.t.Fatalf("%s %s: %d %v", method, path, status, out)
	}
	return out
}

func httpRequest(method, url, body string) (*http.Request, error) {
	return http.NewRequest(method, url, strings.NewReader(body))
}
