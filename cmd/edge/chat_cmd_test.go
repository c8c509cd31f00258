package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/edge-server/edge/internal/pgtest"
)

// chatPeer is a chat visitor connecting from a given loopback source address.
type chatPeer struct {
	user   string
	token  string
	conn   *websocket.Conn
	frames chan map[string]any
	closed chan int // the close code once the server ended the connection
}

func dialerFrom(src string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
}

// chatSession posts api/session from src and returns the status and the answer.
func chatSession(t *testing.T, addr, src, anon string) (int, map[string]any) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialerFrom(src).DialContext, DisableKeepAlives: true}}
	body, _ := json.Marshal(map[string]string{"anon_id": anon})
	res, err := c.Post("http://"+addr+"/chat/api/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func joinChat(t *testing.T, addr, src, anon, room string) *chatPeer {
	t.Helper()
	status, s := chatSession(t, addr, src, anon)
	if status != 200 {
		t.Fatalf("session from %s: %d %v", src, status, s)
	}
	p := &chatPeer{user: s["user"].(map[string]any)["id"].(string), token: s["token"].(string),
		frames: make(chan map[string]any, 4096), closed: make(chan int, 1)}
	d := websocket.Dialer{NetDialContext: dialerFrom(src).DialContext, HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.Dial("ws://"+addr+"/chat/ws?token="+p.token, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p.conn = conn
	go func() {
		for {
			var f map[string]any
			if err := conn.ReadJSON(&f); err != nil {
				var ce *websocket.CloseError
				code := websocket.CloseAbnormalClosure
				if errors.As(err, &ce) {
					code = ce.Code
				}
				p.closed <- code
				return
			}
			p.frames <- f
		}
	}()
	_ = conn.WriteJSON(map[string]any{"type": "join", "room": room})
	p.wait(t, func(f map[string]any) bool { return f["type"] == "history" })
	return p
}

func (p *chatPeer) wait(t *testing.T, match func(map[string]any) bool) map[string]any {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f := <-p.frames:
			if match(f) {
				return f
			}
		case code := <-p.closed:
			t.Fatalf("connection closed (%d) while waiting", code)
		case <-timeout:
			t.Fatal("no matching frame within 10s")
		}
	}
}

func (p *chatPeer) waitClosed(t *testing.T) int {
	t.Helper()
	select {
	case code := <-p.closed:
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("connection still open after 10s")
	}
	return 0
}

// Two edges on one Postgres, moderated with the CLI over their admin sockets; the
// public listeners do not serve any of it.
func TestChatModerationCLI(t *testing.T) {
	db := pgtest.New(t)
	section := fmt.Sprintf(`database_url: "%s"`, db.URL)
	addr1, sock1 := startChatEdgeWithSocket(t, section)
	addr2, sock2 := startChatEdgeWithSocket(t, section)

	alice := joinChat(t, addr1, "127.0.0.2", "anon-alice-0123456789abcdef", "blog")
	bob := joinChat(t, addr2, "127.0.0.3", "anon-bob-0123456789abcdef00", "blog")
	carol := joinChat(t, addr2, "127.0.1.4", "anon-carol-0123456789abcdef", "blog")
	_ = alice.conn.WriteJSON(map[string]any{"type": "send", "room": "blog", "client_id": "c1", "content": "spam spam"})
	id := int64(alice.wait(t, func(f map[string]any) bool { return f["type"] == "ack" })["id"].(float64))

	// Forged admin requests on the public listener.
	for _, raw := range []string{
		fmt.Sprintf("POST /chat/delete HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n{\"ids\":[%d]}", len(fmt.Sprintf(`{"ids":[%d]}`, id)), id),
		"POST /chat/ban HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 20\r\n\r\n{\"cidr\":\"0.0.0.0/0\"}",
		"GET /chat/bans HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		"GET /chat/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		"POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}",
		"GET /chat/%62ans HTTP/1.1\r\nHost: edge\r\n\r\n",
	} {
		status := rawStatus(t, addr1, raw)
		if status != 404 && status != 405 && status != 421 {
			t.Errorf("public listener answered %d to %q", status, strings.SplitN(raw, "\r\n", 2)[0])
		}
	}

	code, out, errs := runEdge("chat", "rooms", "--socket", sock2)
	if code != 0 || !strings.Contains(out, "blog") || !strings.Contains(out, "ONLINE HERE") {
		t.Fatalf("rooms: %d %q %q", code, out, errs)
	}
	// Bad input: one sentence, exit 1 (the daemon's words).
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"delete", fmt.Sprint(id + 999)}, fmt.Sprintf("edge chat delete: there is no message with id %d; nothing was deleted\n", id+999)},
		{[]string{"ban", "--ip", "127.0.0.0/33"}, "edge chat ban: \"127.0.0.0/33\" is not an address or CIDR range like 203.0.113.0/24 or 2001:db8::/64\n"},
		{[]string{"ban", "--user", "u0123456789abcdef01234567"}, "edge chat ban: no user u0123456789abcdef01234567 has sent a message or is connected; check the id (a message's sender_id)\n"},
		{[]string{"unban", "--ip", "10.0.0.0/8"}, "edge chat unban: there is no ban on address range 10.0.0.0/8; see edge chat bans\n"},
	} {
		code, out, errs := runEdge(append(append([]string{"chat"}, tc.args...), "--socket", sock1)...)
		if code != 1 || out != "" || errs != tc.want {
			t.Errorf("%v: %d %q %q, want exit 1 and %q", tc.args, code, out, errs, tc.want)
		}
	}
	if code, _, errs := runEdge("chat", "delete", "abc", "--socket", sock1); code != 2 || !strings.Contains(errs, `"abc" is not a message id`) {
		t.Errorf("delete abc: %d %q", code, errs)
	}

	code, out, errs = runEdge("chat", "delete", fmt.Sprint(id), "--socket", sock1)
	if code != 0 || out != fmt.Sprintf("deleted 1 message: %d in blog\n", id) {
		t.Fatalf("delete: %d %q %q", code, out, errs)
	}
	for name, p := range map[string]*chatPeer{"alice (edge 1)": alice, "bob (edge 2)": bob, "carol (edge 2)": carol} {
		f := p.wait(t, func(f map[string]any) bool { return f["type"] == "deleted" })
		if int64(f["id"].(float64)) != id || f["room"] != "blog" {
			t.Fatalf("%s: %v", name, f)
		}
	}

	code, out, errs = runEdge("chat", "ban", "--ip", "127.0.0.0/24", "--for", "1h", "--reason", "spam wave", "--socket", sock1)
	if code != 0 || !strings.Contains(out, "127.0.0.0/24 is banned until") || !strings.Contains(out, "1 connection(s) closed on this instance") {
		t.Fatalf("ban: %d %q %q", code, out, errs)
	}
	if c := alice.waitClosed(t); c != 4003 {
		t.Fatalf("alice closed with %d", c)
	}
	if c := bob.waitClosed(t); c != 4003 {
		t.Fatalf("bob (other edge) closed with %d", c)
	}
	for _, addr := range []string{addr1, addr2} {
		if status, s := chatSession(t, addr, "127.0.0.99", "anon-fresh-0123456789abcdef"); status != 403 || s["code"] != "banned" {
			t.Fatalf("fresh anon_id from the banned /24: %d %v", status, s)
		}
	}
	_ = carol.conn.WriteJSON(map[string]any{"type": "send", "room": "blog", "client_id": "c2", "content": "still here"})
	carol.wait(t, func(f map[string]any) bool { return f["type"] == "ack" })

	code, out, _ = runEdge("chat", "bans", "--socket", sock2)
	if code != 0 || !strings.Contains(out, "127.0.0.0/24") || !strings.Contains(out, "spam wave") {
		t.Fatalf("bans: %d %q", code, out)
	}
	code, out, errs = runEdge("chat", "unban", "--ip", "127.0.0.0/24", "--socket", sock2)
	if code != 0 || !strings.Contains(out, "removed ban") {
		t.Fatalf("unban: %d %q %q", code, out, errs)
	}
	eventuallyOK(t, func() error {
		if status, s := chatSession(t, addr1, "127.0.0.99", "anon-fresh-0123456789abcdef"); status != 200 {
			return fmt.Errorf("after unban: %d %v", status, s)
		}
		return nil
	})
}

// rawStatus writes raw to addr and returns the status code of the answer.
func rawStatus(t *testing.T, addr, raw string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	var status int
	if _, err := fmt.Sscanf(string(buf[:n]), "HTTP/1.1 %d", &status); err != nil {
		t.Fatalf("no status line in %q", buf[:n])
	}
	return status
}

// chat.filter is applied by edge reload; a bad pattern rejects the reload with file:line
// and the running filter stays.
func TestChatFilterReload(t *testing.T) {
	addr, sock := startChatEdgeWithSocket(t, "filter: { words: [spam] }")
	conf := filepath.Join(filepath.Dir(sock), "edge.yaml")
	p := joinChat(t, addr, "127.0.0.1", "anon-filter-0123456789abcdef", "r")
	send := func(id, text string) string {
		_ = p.conn.WriteJSON(map[string]any{"type": "send", "room": "r", "client_id": id, "content": text})
		f := p.wait(t, func(f map[string]any) bool {
			return (f["type"] == "ack" || f["type"] == "error") && f["client_id"] == id
		})
		if f["type"] == "ack" {
			return "ack"
		}
		return f["code"].(string)
	}
	if got := send("a", "spam here"); got != "filtered" {
		t.Fatalf("before reload: %s", got)
	}
	rewrite := func(from, to string) {
		data, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(conf, bytes.Replace(data, []byte(from), []byte(to), 1), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rewrite("filter: { words: [spam] }", "filter: { words: [eggs] }")
	if code, out, errs := runEdge("reload", "--socket", sock); code != 0 {
		t.Fatalf("reload: %d %q %q", code, out, errs)
	}
	if got := send("b", "spam here"); got != "ack" {
		t.Fatalf("after reload, the old word: %s", got)
	}
	if got := send("c", "green eggs"); got != "filtered" {
		t.Fatalf("after reload, the new word: %s", got)
	}
	rewrite("filter: { words: [eggs] }", `filter: { words: [eggs], patterns: ["(bad"] }`)
	code, _, errs := runEdge("reload", "--socket", sock)
	if code != 1 || !strings.Contains(errs, `edge.yaml:11: chat.filter pattern "(bad"`) {
		t.Fatalf("bad reload: %d %q", code, errs)
	}
	if got := send("d", "more eggs"); got != "filtered" {
		t.Fatalf("after a rejected reload: %s", got)
	}
}
