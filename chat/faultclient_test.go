package chat_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/edge-server/edge/chat"
	"github.com/fasthttp/websocket"
)

// faultClient is one member: it joins its room (again with after = the newest id it has
// seen whenever it reconnects or a join is refused), sends numbered messages one at a
// time with client ids, and resends the outstanding one, same client id, until acked.
type faultClient struct {
	f     *fleet
	idx   int
	home  int
	room  string
	token string
	user  chat.User

	mu          sync.Mutex
	sending     bool
	seq         int
	outstanding string // client id sent and not yet acked
	joined      bool   // a join succeeded once: joinPoint is set
	joinPoint   int64
	lastSeen    int64
	received    []int64
	acked       map[string]int64
	ackTimes    []ackAt
	resent      int
	joinRefused int
	hasMore     int
	otherErrors int
	ackMismatch int

	stopOnce sync.Once
	finish   chan struct{}
	done     chan struct{}
}

type ackAt struct {
	hub int
	at  time.Time
}

func (c *faultClient) stop() {
	c.stopOnce.Do(func() { close(c.finish) })
	<-c.done
}

func (c *faultClient) stopped() bool {
	select {
	case <-c.finish:
		return true
	default:
		return false
	}
}

func (c *faultClient) run() {
	defer close(c.done)
	attempt := 0
	for !c.stopped() {
		// Back to the home hub when it is there (also after it restarted: a restart
		// takes up to StartTimeout), elsewhere after 2.5 s of failed attempts.
		srv, hub := c.f.pick(c.home + attempt/125)
		if srv == nil || (hub != c.home && attempt < 125) {
			attempt++
			time.Sleep(20 * time.Millisecond)
			continue
		}
		d := websocket.Dialer{HandshakeTimeout: 2 * time.Second}
		conn, _, err := d.Dial(srv.WSURL(c.token), nil)
		if err != nil {
			attempt++
			time.Sleep(20 * time.Millisecond)
			continue
		}
		attempt = 0
		c.session(conn, hub)
		_ = conn.Close()
	}
}

func (c *faultClient) write(conn *websocket.Conn, v any) bool {
	_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	return conn.WriteJSON(v) == nil
}

// session drives one connection until it ends or the client is stopped.
func (c *faultClient) session(conn *websocket.Conn, hub int) {
	frames := make(chan inFrame, 1<<12)
	go func() {
		defer close(frames)
		for {
			var f inFrame
			if err := conn.ReadJSON(&f); err != nil {
				return
			}
			if f.Type == "message" {
				_ = json.Unmarshal(f.Raw, &f.Msg)
			}
			frames <- f
		}
	}()
	defer func() {
		_ = conn.Close()
		for range frames {
		}
	}()
	join := func() bool {
		c.mu.Lock()
		msg := map[string]any{"type": "join", "room": c.room}
		if c.joined {
			msg["after"] = c.lastSeen
		}
		c.mu.Unlock()
		return c.write(conn, msg)
	}
	inJoin := true
	var rejoinAt, resendAt time.Time
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	welcomed := false
	for {
		select {
		case <-c.finish:
			return
		case f, ok := <-frames:
			if !ok {
				return
			}
			c.mu.Lock()
			switch f.Type {
			case "welcome":
				welcomed = true
				rejoinAt = time.Now()
			case "history":
				if f.Room != c.room {
					break
				}
				inJoin = false
				if f.HasMore && c.joined {
					c.hasMore++ // a rejoin's history cut short: a gap the client cannot see
				}
				if !c.joined {
					c.joined = true
					if n := len(f.Messages); n > 0 {
						c.joinPoint = f.Messages[n-1].ID
					}
					c.lastSeen = c.joinPoint
					break
				}
				for _, m := range f.Messages {
					c.receive(m.ID)
				}
			case "message":
				if f.Msg.Room == c.room {
					c.receive(f.Msg.ID)
				}
			case "ack":
				if prev, ok := c.acked[f.ClientID]; ok && prev != f.ID {
					c.ackMismatch++
				}
				c.acked[f.ClientID] = f.ID
				if f.ClientID == c.outstanding {
					c.outstanding = ""
					c.ackTimes = append(c.ackTimes, ackAt{hub: hub, at: time.Now()})
				}
			case "error":
				switch {
				case f.Code == "unavailable" && f.ClientID != "" && f.ClientID == c.outstanding:
					resendAt = time.Now().Add(30 * time.Millisecond)
				case f.Code == "unavailable" && f.ClientID == "" && f.Room == c.room:
					c.joinRefused++
					inJoin = true
					rejoinAt = time.Now().Add(50 * time.Millisecond)
				case f.Code == "unavailable", f.Code == "not_joined":
					// a send racing a refused join, or an older resend: the loop resends
				default:
					c.otherErrors++
					c.f.t.Logf("client %d: error %s: %s", c.idx, f.Code, f.Text)
				}
			}
			c.mu.Unlock()
		case now := <-tick.C:
			if !welcomed {
				continue
			}
			if !rejoinAt.IsZero() && now.After(rejoinAt) {
				rejoinAt = time.Time{}
				if !join() {
					return
				}
			}
			if inJoin {
				continue
			}
			c.mu.Lock()
			var msg map[string]any
			switch {
			case c.outstanding == "" && c.sending:
				c.seq++
				c.outstanding = fmt.Sprintf("c%d-m%d", c.idx, c.seq)
				msg = map[string]any{"type": "send", "room": c.room, "client_id": c.outstanding, "content": "message " + c.outstanding}
				resendAt = now.Add(3 * time.Second)
			case c.outstanding != "" && now.After(resendAt):
				c.resent++
				msg = map[string]any{"type": "send", "room": c.room, "client_id": c.outstanding, "content": "message " + c.outstanding}
				resendAt = now.Add(3 * time.Second)
			}
			c.mu.Unlock()
			if msg != nil && !c.write(conn, msg) {
				return
			}
		}
	}
}

// receive records a delivered message (c.mu held).
func (c *faultClient) receive(id int64) {
	c.received = append(c.received, id)
	c.lastSeen = max(c.lastSeen, id)
}
