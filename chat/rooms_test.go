package chat_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/chat/chattest"
)

// waitPresence waits for a presence frame of room with the given count.
func (c *tclient) waitPresence(room string, online int) {
	c.t.Helper()
	deadline := time.Now().Add(waitLong)
	for time.Now().Before(deadline) {
		if f := c.next(); f.Type == "presence" && f.Room == room && f.Online == online {
			return
		}
	}
	c.t.Fatalf("no presence %d for %s", online, room)
}

func TestPresenceCountsDistinctUsers(t *testing.T) {
	srv := chattest.Start(t, chat.Config{PresenceDelay: 50 * time.Millisecond}, nil)
	a := connect(t, srv, anon("a"))
	a.join("p", nil)
	a.waitPresence("p", 1)
	b := connect(t, srv, anon("b"))
	b.join("p", nil)
	b.waitPresence("p", 2)           // right after its history
	a.waitPresence("p", 2)           // broadcast
	b2 := connect(t, srv, anon("b")) // the same user in a second tab
	b2.join("p", nil)
	b2.waitPresence("p", 2)
	b.send(map[string]any{"type": "leave", "room": "p"})
	b2.conn.Close()
	a.waitPresence("p", 1)
	// Leaving stops the messages.
	a.say("p", "after-leave", "anyone?")
	id := a.waitType("ack").ID
	a.waitMessage(id)
	select {
	case f := <-b.frames:
		if f.Type == "message" {
			t.Fatalf("got a message after leaving: %+v", f)
		}
	case <-time.After(200 * time.Millisecond):
	}
}

func TestJoinLimitsAndHasMore(t *testing.T) {
	forStores(t, func(t *testing.T, cfg chat.Config) {
		cfg.ReplayMax, cfg.HistorySize, cfg.MaxRoomsPerConn = 5, 3, 2
		srv := chattest.Start(t, fast(cfg), nil)
		c := connect(t, srv, anon("l"))
		c.join("a", nil)
		var ids []int64
		for i := range 8 {
			c.say("a", fmt.Sprintf("m%d", i), "x")
			ids = append(ids, c.waitType("ack").ID)
		}
		d := connect(t, srv, anon("m"))
		h := d.join("a", nil)
		if len(h.Messages) != 3 || !h.HasMore || h.Messages[2].ID != ids[7] {
			t.Fatalf("last-N history: %d messages, has_more %v", len(h.Messages), h.HasMore)
		}
		h = d.join("a", ptr(ids[0]))
		if len(h.Messages) != 5 || !h.HasMore || h.Messages[0].ID != ids[3] {
			t.Fatalf("replay capped at ReplayMax: %d messages, has_more %v", len(h.Messages), h.HasMore)
		}
		h = d.join("a", ptr(ids[4]))
		if len(h.Messages) != 3 || h.HasMore {
			t.Fatalf("short replay: %d messages, has_more %v", len(h.Messages), h.HasMore)
		}
		d.join("b", nil)
		d.send(map[string]any{"type": "join", "room": "c"})
		if f := d.waitType("error"); f.Code != "too_many_rooms" || f.Room != "c" {
			t.Fatalf("third room: %+v", f)
		}
	})
}
