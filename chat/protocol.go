package chat

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// Message is one chat message as stored and as sent to clients.
type Message struct {
	ID        int64     `json:"id"`
	Room      string    `json:"room"`
	SenderID  string    `json:"sender_id"`
	Nickname  string    `json:"nickname"`
	Avatar    string    `json:"avatar"`
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"created_at"`
	ClientID  string    `json:"client_id"`
	// Deleted marks a message an operator removed: Content is empty, the UI shows a
	// placeholder. Omitted when false.
	Deleted bool `json:"deleted,omitempty"`
}

// clientFrame is every field a client frame may carry.
type clientFrame struct {
	Type     string `json:"type"`
	Room     string `json:"room"`
	After    *int64 `json:"after"`
	Content  string `json:"content"`
	ClientID string `json:"client_id"`
}

// decodeClientFrame parses and checks one client text frame. It returns the frame and a
// client-facing error for anything malformed; the connection stays open either way.
func decodeClientFrame(data []byte) (clientFrame, *Error) {
	var f clientFrame
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return f, errorf(CodeBadRequest, "frames are JSON objects")
	}
	if !decodeFast(data, &f) {
		var err error
		if f, err = unmarshalClientFrame(data); err != nil {
			return clientFrame{}, errorf(CodeBadRequest, "malformed JSON frame")
		}
	}
	switch f.Type {
	case "join":
		if f.After != nil && *f.After < 0 {
			return f, errorf(CodeBadRequest, "after must be a message id (0 or more)")
		}
	case "send":
		if f.ClientID == "" || !validID(f.ClientID) {
			return f, errorf(CodeInvalidClient, "client_id is required: 1 to 64 characters of A-Z a-z 0-9 _ . : -")
		}
	case "leave":
	case "":
		return f, errorf(CodeBadRequest, "frame has no type")
	default:
		return f, errorf(CodeBadRequest, "unknown frame type %q", truncate(f.Type, 32))
	}
	if err := checkRoom(f.Room); err != nil {
		return f, err
	}
	return f, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Server frames.
type (
	welcomeFrame struct {
		Type string `json:"type"`
		User User   `json:"user"`
	}
	historyFrame struct {
		Type     string    `json:"type"`
		Room     string    `json:"room"`
		Messages []Message `json:"messages"`
		HasMore  bool      `json:"has_more"`
	}
	messageFrame struct {
		Type    string   `json:"type"`
		Room    string   `json:"room"`
		Message *Message `json:"message"`
	}
	ackFrame struct {
		Type     string `json:"type"`
		ClientID string `json:"client_id"`
		ID       int64  `json:"id"`
	}
	presenceFrame struct {
		Type   string `json:"type"`
		Room   string `json:"room"`
		Online int    `json:"online"`
	}
	errorFrame struct {
		Type     string `json:"type"`
		Code     Code   `json:"code"`
		Message  string `json:"message"`
		ClientID string `json:"client_id,omitempty"`
		Room     string `json:"room,omitempty"`
	}
)

// unmarshalClientFrame is the general decoder, for what decodeFast declines. It is a
// function of its own so that only this path's frame escapes to the heap (through
// encoding/json), not every frame decodeClientFrame returns.
func unmarshalClientFrame(data []byte) (clientFrame, error) {
	var f clientFrame
	err := json.Unmarshal(data, &f)
	return f, err
}

// encodeFrame marshals v as a complete WebSocket text frame, ready to be written as is
// to any number of connections.
func encodeFrame(v any) []byte {
	p, err := json.Marshal(v)
	if err != nil {
		// Every frame type above marshals; this is a programming error.
		panic("chat: encoding frame: " + err.Error())
	}
	return textFrame(p)
}

func messageFrameFor(m *Message) []byte {
	b, ok := appendMessageFrame(newTextFrame(messageFrameSize(m)), m)
	if !ok {
		return encodeFrame(messageFrame{Type: "message", Room: m.Room, Message: m})
	}
	return sealTextFrame(b)
}

// ackFrameFor builds {"type":"ack","client_id":…,"id":…} without reflection: acks are
// one frame per send. client_id was checked by validID (no character needs escaping);
// anything else goes through encoding/json.
func ackFrameFor(clientID string, id int64) []byte {
	if !validID(clientID) {
		return encodeFrame(ackFrame{Type: "ack", ClientID: clientID, ID: id})
	}
	p := newTextFrame(48 + len(clientID))
	p = append(p, `{"type":"ack","client_id":"`...)
	p = append(p, clientID...)
	p = append(p, `","id":`...)
	p = strconv.AppendInt(p, id, 10)
	p = append(p, '}')
	return sealTextFrame(p)
}

func errFrame(e *Error, clientID, room string) []byte {
	return encodeFrame(errorFrame{Type: "error", Code: e.Code, Message: e.Message, ClientID: clientID, Room: room})
}
