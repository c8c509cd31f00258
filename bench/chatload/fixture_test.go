package main

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// protoServer speaks the chat protocol of DESIGN.md just far enough to check the load
// generator's counting against known answers. It is a test fixture for chatload, not
// a stand-in for edge: edge's numbers only ever come from edge.
type protoServer struct {
	URL string
	// garbage makes the server send malformed and unknown frames after each history.
	garbage bool
	// sessionStatus, when set, is returned for every session request.
	sessionStatus int

	mu      sync.Mutex
	rooms   map[string][]*protoConn
	sources map[string]int
	nextID  int
}

type protoConn struct {
	ws  *websocket.Conn
	wmu sync.Mutex
}

func (c *protoConn) send(v any) {
	data, _ := json.Marshal(v)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.WriteMessage(websocket.TextMessage, data)
}

func newProtoServer(t *testing.T, garbage bool, sessionStatus int) *protoServer {
	t.Helper()
	ps := &protoServer{garbage: garbage, sessionStatus: sessionStatus, rooms: map[string][]*protoConn{}, sources: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /chat/api/session", ps.session)
	mux.HandleFunc("GET /chat/ws", ps.ws)
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	ps.URL = "http://" + ln.Addr().String() + "/chat/"
	return ps
}

func (ps *protoServer) session(w http.ResponseWriter, r *http.Request) {
	if ps.sessionStatus != 0 {
		w.WriteHeader(ps.sessionStatus)
		return
	}
	var req struct {
		AnonID string `json:"anon_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.AnonID == "" {
		http.Error(w, "bad session request", http.StatusBadRequest)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"token": "t-" + req.AnonID, "user": map[string]string{"id": req.AnonID}})
}

var upgrader = websocket.Upgrader{CheckOrigin: func(r *http.Request) bool {
	return r.Header.Get("Origin") == "http://"+r.Host
}}

func (ps *protoServer) ws(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Query().Get("token"), "t-") {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	ps.mu.Lock()
	ps.sources[host]++
	ps.mu.Unlock()
	c := &protoConn{ws: ws}
	defer ws.Close()
	c.send(map[string]any{"type": "welcome", "user": map[string]string{"id": "x"}})
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var f struct{ Type, Room, Content, ClientID string }
		if json.Unmarshal(data, &f) != nil {
			c.send(map[string]string{"type": "error", "code": "bad_json"})
			continue
		}
		f.ClientID = jsonField(data, "client_id")
		switch f.Type {
		case "join":
			ps.mu.Lock()
			ps.rooms[f.Room] = append(ps.rooms[f.Room], c)
			ps.mu.Unlock()
			c.send(map[string]any{"type": "history", "room": f.Room, "messages": []any{}})
			c.send(map[string]any{"type": "presence", "room": f.Room, "online": 1})
			if ps.garbage {
				c.wmu.Lock()
				_ = ws.WriteMessage(websocket.TextMessage, []byte("{not json"))
				_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"weird"}`))
				_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"message","message":{"content":"chatload notanumber"}}`))
				c.wmu.Unlock()
			}
		case "send":
			ps.mu.Lock()
			ps.nextID++
			id := ps.nextID
			members := append([]*protoConn(nil), ps.rooms[f.Room]...)
			ps.mu.Unlock()
			c.send(map[string]any{"type": "ack", "client_id": f.ClientID, "id": id})
			for _, m := range members {
				m.send(edgeMessageFrame(int64(id), f.Room, "nick", f.Content, f.ClientID))
			}
		default:
			c.send(map[string]string{"type": "error", "code": "unknown_type"})
		}
	}
}

func jsonField(data []byte, key string) string {
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	s, _ := m[key].(string)
	return s
}

// edgeMessage and edgeMessageFrame have the field order of edge's chat.Message and
// message frame, so chatload's fast path (frame.go) sees what edge sends.
type edgeMessage struct {
	ID        int64     `json:"id"`
	Room      string    `json:"room"`
	SenderID  string    `json:"sender_id"`
	Nickname  string    `json:"nickname"`
	Avatar    string    `json:"avatar"`
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"created_at"`
	ClientID  string    `json:"client_id"`
}

type edgeFrame struct {
	Type    string       `json:"type"`
	Room    string       `json:"room"`
	Message *edgeMessage `json:"message"`
}

func edgeMessageFrame(id int64, room, nick, content, clientID string) edgeFrame {
	return edgeFrame{Type: "message", Room: room, Message: &edgeMessage{
		ID: id, Room: room, SenderID: "u-1", Nickname: nick, Avatar: "#abc", Content: content,
		CreatedAt: time.Unix(1700000000, 5).UTC(), ClientID: clientID}}
}
