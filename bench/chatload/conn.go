package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
)

// frame is the part of a server frame (DESIGN.md chat protocol) chatload looks at.
type frame struct {
	Type     string `json:"type"`
	Room     string `json:"room"`
	ClientID string `json:"client_id"`
	Code     string `json:"code"`
	Message  struct {
		Content string `json:"content"`
	} `json:"message"`
	stamp int64 // a message's send time, when fastMessage read it (Content is then empty)
}

// sendTime is a message frame's send time from its content.
func (f *frame) sendTime() (int64, bool) {
	if f.stamp > 0 {
		return f.stamp, true
	}
	return stampFromContent(f.Message.Content)
}

// client is one WebSocket connection, global index g.
type client struct {
	g      int
	room   string
	sender int // k-th sender, or -1
	ws     *websocket.Conn
	stamp  *stampConn // kernel receive times (nil: not a plain TCP connection)
	buf    []byte     // the last frame read, reused
	wmu    sync.Mutex
	seq    int
	joined chan struct{}
	once   sync.Once
	// send's scratch (the send loop is one goroutine per worker)
	sendBuf, content, clientID []byte
}

// dialer makes connections from one source address: session over HTTP, then WebSocket.
type dialer struct {
	cfg    *Config
	src    string
	http   *http.Client
	ws     *websocket.Dialer
	wsBase string
}

func newDialer(cfg *Config, src string) *dialer {
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	wsd := *nd
	wsd.Control = enableStamps
	tlsCfg := &tls.Config{InsecureSkipVerify: true} // loopback benchmark against a test certificate
	u, _ := url.Parse(cfg.URL)                      // validated in setDefaults
	scheme := "ws"
	if u.Scheme == "https" {
		scheme = "wss"
	}
	return &dialer{
		cfg: cfg,
		src: src,
		http: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
			DialContext: nd.DialContext, TLSClientConfig: tlsCfg, MaxIdleConnsPerHost: 16,
		}},
		ws: &websocket.Dialer{
			NetDialContext: wsd.DialContext, TLSClientConfig: tlsCfg, HandshakeTimeout: 15 * time.Second,
			ReadBufferSize: 2048, WriteBufferSize: 2048,
		},
		wsBase: scheme + "://" + u.Host + u.Path + "ws?token=",
	}
}

// session asks the chat for a token for a stable anon_id (DESIGN: POST {mount}api/session).
func (d *dialer) session(ctx context.Context, anon string) (string, error) {
	body, _ := json.Marshal(map[string]string{"anon_id": anon})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL+"api/session", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("building session request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", d.cfg.Origin)
	resp, err := d.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("session: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("session: reading answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("session: status %d", resp.StatusCode)
	}
	var s struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(data, &s); err != nil || s.Token == "" {
		return "", fmt.Errorf("session: answer has no token")
	}
	return s.Token, nil
}

// connect opens connection g and sends its join frame.
func (d *dialer) connect(ctx context.Context, g int) (*client, error) {
	tok, err := d.session(ctx, fmt.Sprintf("chatload-%s-%d", d.cfg.RunID, g))
	if err != nil {
		return nil, err
	}
	hdr := http.Header{"Origin": {d.cfg.Origin}}
	var stamp *stampConn
	wd := *d.ws
	wd.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.ws.NetDialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c, stamp = newStampConn(c)
		return c, nil
	}
	ws, resp, err := wd.DialContext(ctx, d.wsBase+url.QueryEscape(tok), hdr)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket: status %d", resp.StatusCode)
		}
		return nil, fmt.Errorf("websocket: %w", err)
	}
	c := &client{g: g, room: d.cfg.roomOf(g), sender: d.cfg.senderNo(g), ws: ws, stamp: stamp, joined: make(chan struct{})}
	if err := c.write(map[string]string{"type": "join", "room": c.room}); err != nil {
		ws.Close()
		return nil, fmt.Errorf("join: %w", err)
	}
	return c, nil
}

func (c *client) write(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.writeText(data)
}

func (c *client) writeText(data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

// send sends one message stamped with the send time in both content and client_id,
// so receivers and the ack handler can compute latency without shared state.
func (c *client) send(runID string) error {
	c.seq++
	now := time.Now().UnixNano()
	c.content = sendContent(c.content[:0], now, c.g, c.seq)
	c.clientID = sendClientID(c.clientID[:0], runID, c.g, c.seq, now)
	c.sendBuf = appendSendFrame(c.sendBuf[:0], c.room, c.content, c.clientID)
	return c.writeText(c.sendBuf)
}

// stampFromContent reads the send time out of "chatload <ns> …".
func stampFromContent(s string) (int64, bool) {
	rest, ok := strings.CutPrefix(s, "chatload ")
	if !ok {
		return 0, false
	}
	ns, _, _ := strings.Cut(rest, " ")
	v, err := strconv.ParseInt(ns, 10, 64)
	return v, err == nil && v > 0
}

// stampFromClientID reads the send time out of "<run>.<g>.<seq>.<ns>".
func stampFromClientID(s string) (int64, bool) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(s[i+1:], 10, 64)
	return v, err == nil && v > 0
}
