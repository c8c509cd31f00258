package chat_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/chat/chattest"
	"github.com/edge-server/edge/internal/pgtest"
	"github.com/edge-server/edge/internal/wait"
	"github.com/fasthttp/websocket"
)

const waitLong = 20 * time.Second

// storeCase runs a behaviour test against both stores.
type storeCase struct {
	name string
	cfg  func(t *testing.T) chat.Config
}

var stores = []storeCase{
	{"postgres", func(t *testing.T) chat.Config { return chat.Config{DatabaseURL: pgtest.New(t).URL} }},
	{"memory", func(t *testing.T) chat.Config { return chat.Config{} }},
}

func forStores(t *testing.T, f func(t *testing.T, cfg chat.Config)) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) { f(t, sc.cfg(t)) })
	}
}

// fast relaxes the per-connection limits for tests that send a lot.
func fast(cfg chat.Config) chat.Config {
	cfg.MessageRate, cfg.MessageBurst = 1e6, 1e6
	cfg.SendQueueFrames, cfg.SendQueueBytes = 1<<16, 64<<20
	return cfg
}

type inFrame struct {
	Type     string          `json:"type"`
	Room     string          `json:"room"`
	Code     string          `json:"code"`
	ClientID string          `json:"client_id"`
	ID       int64           `json:"id"`
	Online   int             `json:"online"`
	HasMore  bool            `json:"has_more"`
	User     chat.User       `json:"user"`
	Messages []chat.Message  `json:"messages"`
	Raw      json.RawMessage `json:"message"`
	Msg      chat.Message    `json:"-"`
	Text     string          `json:"-"` // error message
}

type tclient struct {
	t      testing.TB
	conn   *websocket.Conn
	user   chat.User
	token  string
	frames chan inFrame
	done   chan struct{}
	err    error // read error once done is closed
	wmu    sync.Mutex
}

func newSession(t testing.TB, srv *chattest.Server, anon string) (token string, user chat.User) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"anon_id": anon})
	if anon == "" {
		body = nil
	}
	res, err := http.Post(srv.URL+"api/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST api/session: %v", err)
	}
	defer res.Body.Close()
	var out struct {
		Token string    `json:"token"`
		User  chat.User `json:"user"`
	}
	if res.StatusCode != 200 || json.NewDecoder(res.Body).Decode(&out) != nil {
		t.Fatalf("POST api/session: status %d", res.StatusCode)
	}
	return out.Token, out.User
}

func dialWS(srv *chattest.Server, token string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	return d.Dial(srv.WSURL(token), hdr)
}

// connect opens a session for anon and a WebSocket, and waits for the welcome.
func connect(t testing.TB, srv *chattest.Server, anon string) *tclient {
	t.Helper()
	token, user := newSession(t, srv, anon)
	c := connectToken(t, srv, token)
	if w := c.waitType("welcome"); w.User != user {
		t.Fatalf("welcome user %+v, session said %+v", w.User, user)
	}
	c.user = user
	return c
}

func connectToken(t testing.TB, srv *chattest.Server, token string) *tclient {
	t.Helper()
	conn, res, err := dialWS(srv, token, nil)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dialing ws: %v (status %d)", err, status)
	}
	c := &tclient{t: t, conn: conn, token: token, frames: make(chan inFrame, 1<<15), done: make(chan struct{})}
	go c.read()
	t.Cleanup(func() { conn.Close() })
	return c
}

func (c *tclient) read() {
	defer close(c.done)
	for {
		typ, data, err := c.conn.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		var f inFrame
		if err := json.Unmarshal(data, &f); err != nil {
			c.err = err
			return
		}
		switch f.Type {
		case "message":
			_ = json.Unmarshal(f.Raw, &f.Msg)
		case "error":
			_ = json.Unmarshal(f.Raw, &f.Text)
		}
		c.frames <- f
	}
}

func (c *tclient) send(v any) {
	c.t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Errorf("writing frame: %v", err)
	}
}

func (c *tclient) sendRaw(typ int, data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.conn.WriteMessage(typ, data)
}

func (c *tclient) join(room string, after *int64) inFrame {
	c.t.Helper()
	f := map[string]any{"type": "join", "room": room}
	if after != nil {
		f["after"] = *after
	}
	c.send(f)
	return c.waitType("history")
}

func (c *tclient) say(room, clientID, content string) {
	c.send(map[string]any{"type": "send", "room": room, "client_id": clientID, "content": content})
}

// next returns the next frame, failing the test after waitLong.
func (c *tclient) next() inFrame {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.done:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		c.t.Fatalf("connection ended while waiting for a frame: %v", c.err)
	case <-time.After(waitLong):
		c.t.Fatalf("no frame within %v", waitLong)
	}
	return inFrame{}
}

// waitType skips frames until one of type typ.
func (c *tclient) waitType(typ string) inFrame {
	c.t.Helper()
	for {
		if f := c.next(); f.Type == typ {
			return f
		} else if f.Type == "error" && typ != "error" {
			c.t.Logf("skipping error frame while waiting for %s: %s %s", typ, f.Code, f.Text)
		}
	}
}

// waitMessage skips frames until a message with the given id.
func (c *tclient) waitMessage(id int64) chat.Message {
	c.t.Helper()
	for {
		if f := c.next(); f.Type == "message" && f.Msg.ID == id {
			return f.Msg
		}
	}
}

// waitClose waits for the server to end the connection and returns the close code
// (websocket.CloseAbnormalClosure when it just dropped it).
func (c *tclient) waitClose() int {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(waitLong):
		c.t.Fatalf("connection still open after %v", waitLong)
	}
	var ce *websocket.CloseError
	if errors.As(c.err, &ce) {
		return ce.Code
	}
	return websocket.CloseAbnormalClosure
}

// history reads every message of a room through the REST API, oldest first.
func history(t testing.TB, srv *chattest.Server, room string) []chat.Message {
	t.Helper()
	var all []chat.Message
	before := int64(0)
	for {
		u := srv.URL + "api/rooms/" + room + "/messages?limit=200"
		if before > 0 {
			u += "&before=" + itoa(before)
		}
		page := getMessages(t, u)
		all = append(page, all...)
		if len(page) < 200 {
			return all
		}
		before = page[0].ID
	}
}

func getMessages(t testing.TB, u string) []chat.Message {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, res.StatusCode, b)
	}
	var out struct {
		Messages []chat.Message `json:"messages"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return out.Messages
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func ptr(n int64) *int64 { return &n }

func anon(name string) string { return "anon-" + name + "-0123456789abcdef" }

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, waitLong, what, cond)
}
