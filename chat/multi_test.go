package chat_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/chat/chattest"
	"github.com/edge-server/edge/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

func TestTwoHubsShareRooms(t *testing.T) {
	db := pgtest.New(t)
	// A long poll interval: delivery between the hubs must come from LISTEN/NOTIFY.
	cfg := fast(chat.Config{DatabaseURL: db.URL, PollInterval: time.Hour})
	h1, h2 := chattest.Start(t, cfg, nil), chattest.Start(t, cfg, nil)
	a, b := connect(t, h1, anon("a")), connect(t, h2, anon("b"))
	a.join("shared", nil)
	b.join("shared", nil)

	a.say("shared", "from-a", "hello from hub 1")
	idA := a.waitType("ack").ID
	if m := b.waitMessage(idA); m.Content != "hello from hub 1" || m.SenderID != a.user.ID {
		t.Fatalf("hub 2 got %+v", m)
	}
	b.say("shared", "from-b", "hello from hub 2")
	idB := b.waitType("ack").ID
	b.waitMessage(idB)
	if m := a.waitMessage(idB); m.Content != "hello from hub 2" {
		t.Fatalf("hub 1 got %+v", m)
	}

	// Both hubs writing at once: every member sees every message once, in id order.
	const each = 100
	var wg sync.WaitGroup
	for _, c := range []*tclient{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				c.say("shared", fmt.Sprintf("burst-%d", i), fmt.Sprintf("burst %d", i))
			}
		}()
	}
	wg.Wait()
	for name, c := range map[string]*tclient{"a": a, "b": b} {
		last, seen := idB, map[int64]bool{}
		for len(seen) < 2*each {
			f := c.next()
			if f.Type != "message" {
				continue
			}
			if f.Msg.ID <= last || seen[f.Msg.ID] {
				t.Fatalf("%s: message %d after %d (out of order or duplicate)", name, f.Msg.ID, last)
			}
			last = f.Msg.ID
			seen[f.Msg.ID] = true
		}
	}
}

// A client that joins with "after" while others are sending must see every message
// newer than "after" exactly once: the replay and the live stream meet without a gap.
func TestJoinReplayRacesLiveTraffic(t *testing.T) {
	forStores(t, func(t *testing.T, cfg chat.Config) {
		srv := chattest.Start(t, fast(cfg), nil)
		sender := connect(t, srv, anon("sender"))
		sender.join("race", nil)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sender.say("race", fmt.Sprintf("r%d", i), "tick")
				time.Sleep(time.Millisecond)
			}
		}()
		for round := range 5 {
			time.Sleep(20 * time.Millisecond)
			j := connect(t, srv, anon(fmt.Sprintf("joiner%d", round)))
			h := j.join("race", ptr(0))
			ids := []int64{}
			for _, m := range h.Messages {
				ids = append(ids, m.ID)
			}
			// Collect live messages for a little while.
			deadline := time.After(100 * time.Millisecond)
		collect:
			for {
				select {
				case f := <-j.frames:
					if f.Type == "message" {
						ids = append(ids, f.Msg.ID)
					}
				case <-deadline:
					break collect
				}
			}
			stored := history(t, srv, "race")
			pos := map[int64]int{}
			for i, m := range stored {
				pos[m.ID] = i
			}
			for i, id := range ids {
				p, ok := pos[id]
				if !ok || p != i {
					t.Fatalf("round %d: joiner's message #%d is id %d, store has it at %d (ok=%v)", round, i, id, p, ok)
				}
			}
			j.conn.Close()
		}
		close(stop)
		<-done
	})
}

// Rows committed without a NOTIFY (here: inserted by hand) still reach live clients
// through the slow poll, which catches up with id > cursor.
func TestPollFallbackCatchesUp(t *testing.T) {
	db := pgtest.New(t)
	srv := chattest.Start(t, chat.Config{DatabaseURL: db.URL, PollInterval: 200 * time.Millisecond}, nil)
	c := connect(t, srv, anon("p"))
	c.join("polled", nil)
	conn, err := pgx.Connect(t.Context(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var id int64
	if err := conn.QueryRow(t.Context(), `INSERT INTO messages (room_id, sender_id, sender_nickname, avatar, content, created_at)
		VALUES ('polled', 'u-elsewhere', 'someone', 'a01', 'written elsewhere', now()) RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if m := c.waitMessage(id); m.Content != "written elsewhere" {
		t.Fatalf("got %+v", m)
	}
}
