package chat_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/chat/chattest"
)

func TestTwoClientsSendAckReceive(t *testing.T) {
	forStores(t, func(t *testing.T, cfg chat.Config) {
		srv := chattest.Start(t, cfg, nil)
		a, b := connect(t, srv, anon("a")), connect(t, srv, anon("b"))
		if h := a.join("lobby", nil); len(h.Messages) != 0 || h.Room != "lobby" {
			t.Fatalf("fresh room history = %+v", h)
		}
		b.join("lobby", nil)

		a.say("lobby", "c-1", "  hello, 총명한 고슴도치  ")
		ack := a.waitType("ack")
		if ack.ClientID != "c-1" || ack.ID <= 0 {
			t.Fatalf("ack = %+v", ack)
		}
		ma, mb := a.waitMessage(ack.ID), b.waitMessage(ack.ID)
		if !reflect.DeepEqual(ma, mb) {
			t.Fatalf("clients got different messages:\n%+v\n%+v", ma, mb)
		}
		if ma.Content != "hello, 총명한 고슴도치" || ma.SenderID != a.user.ID || ma.Nickname != a.user.Nickname ||
			ma.Avatar != a.user.Avatar || ma.Room != "lobby" || ma.ClientID != "c-1" || ma.CreatedAt.IsZero() {
			t.Fatalf("message = %+v, sender %+v", ma, a.user)
		}
		b.say("lobby", "c-2", "hi")
		id2 := b.waitType("ack").ID
		m2 := a.waitMessage(id2)

		got := history(t, srv, "lobby")
		wantJSON, _ := json.Marshal([]any{ma, m2})
		gotJSON, _ := json.Marshal(got)
		if string(gotJSON) != string(wantJSON) {
			t.Fatalf("REST history differs from broadcast:\n got %s\nwant %s", gotJSON, wantJSON)
		}
	})
}

func TestReconnectWithAfterGetsExactlyTheMissed(t *testing.T) {
	forStores(t, func(t *testing.T, cfg chat.Config) {
		srv := chattest.Start(t, cfg, nil)
		a, b := connect(t, srv, anon("a")), connect(t, srv, anon("b"))
		a.join("r1", nil)
		b.join("r1", nil)
		a.say("r1", "seen", "seen by b")
		last := b.waitMessage(a.waitType("ack").ID).ID
		b.conn.Close()

		var missed []int64
		for i := range 5 {
			a.say("r1", fmt.Sprintf("m%d", i), fmt.Sprintf("missed %d", i))
			missed = append(missed, a.waitType("ack").ID)
		}
		b2 := connect(t, srv, anon("b"))
		h := b2.join("r1", ptr(last))
		var got []int64
		for _, m := range h.Messages {
			got = append(got, m.ID)
		}
		if !reflect.DeepEqual(got, missed) || h.HasMore {
			t.Fatalf("replay after %d = %v (has_more %v), want %v", last, got, h.HasMore, missed)
		}
		a.say("r1", "live", "live after rejoin")
		id := a.waitType("ack").ID
		if m := b2.waitMessage(id); m.Content != "live after rejoin" {
			t.Fatalf("live message = %+v", m)
		}
		// Without after: the last HistorySize messages.
		c := connect(t, srv, anon("c"))
		if h := c.join("r1", nil); len(h.Messages) != 7 || h.Messages[6].ID != id {
			t.Fatalf("history without after has %d messages", len(h.Messages))
		}
	})
}

func TestIdempotentResend(t *testing.T) {
	forStores(t, func(t *testing.T, cfg chat.Config) {
		srv := chattest.Start(t, cfg, nil)
		a := connect(t, srv, anon("a"))
		a.join("r", nil)
		a.say("r", "same", "first")
		id := a.waitType("ack").ID
		a.waitMessage(id)
		a.say("r", "same", "second try, different text")
		if ack := a.waitType("ack"); ack.ID != id {
			t.Fatalf("resend acked %d, original %d", ack.ID, id)
		}
		// After a reconnect, too; and the same client_id from another sender is distinct.
		a2 := connect(t, srv, anon("a"))
		a2.join("r", nil)
		a2.say("r", "same", "third")
		if ack := a2.waitType("ack"); ack.ID != id {
			t.Fatalf("resend after reconnect acked %d, original %d", ack.ID, id)
		}
		b := connect(t, srv, anon("b"))
		b.join("r", nil)
		b.say("r", "same", "b's own")
		if ack := b.waitType("ack"); ack.ID == id {
			t.Fatalf("another sender's client_id collided with %d", id)
		}
		msgs := history(t, srv, "r")
		if len(msgs) != 2 || msgs[0].Content != "first" || msgs[1].Content != "b's own" {
			t.Fatalf("history = %+v", msgs)
		}
	})
}
