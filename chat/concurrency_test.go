package chat_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/chat/chattest"
	"github.com/jackc/pgx/v5"
)

// countIDs returns how many rows each id has in the messages table (Postgres only).
func countIDs(t *testing.T, url string) map[int64]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT id FROM messages")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]int{}
	for _, id := range ids {
		out[id]++
	}
	return out
}

func TestConcurrentSendersEveryAckStoredOnce(t *testing.T) {
	const senders, each = 20, 200
	forStores(t, func(t *testing.T, cfg chat.Config) {
		srv := chattest.Start(t, fast(cfg), nil)
		acked := make([][]int64, senders)
		var wg sync.WaitGroup
		clients := make([]*tclient, senders)
		for i := range clients {
			clients[i] = connect(t, srv, anon(fmt.Sprintf("s%02d", i)))
			clients[i].join("busy", nil)
		}
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range each {
					c.say("busy", fmt.Sprintf("c%d", j), fmt.Sprintf("sender %d message %d", i, j))
				}
				for len(acked[i]) < each {
					f := c.next()
					switch f.Type {
					case "ack":
						acked[i] = append(acked[i], f.ID)
					case "error":
						// unavailable is the store's "try again" (a loaded machine can
						// hit the writer's database time limits): the protocol's answer
						// is a resend with the same client_id, which must not duplicate.
						var j int
						if _, err := fmt.Sscanf(f.ClientID, "c%d", &j); f.Code == "unavailable" && err == nil {
							c.say("busy", f.ClientID, fmt.Sprintf("sender %d message %d", i, j))
							continue
						}
						t.Errorf("sender %d got error %s: %s", i, f.Code, f.Text)
						return
					}
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		seen := map[int64]bool{}
		for _, ids := range acked {
			for _, id := range ids {
				if seen[id] {
					t.Fatalf("id %d acked twice", id)
				}
				seen[id] = true
			}
		}
		stored := map[int64]int{}
		if cfg.DatabaseURL != "" {
			stored = countIDs(t, cfg.DatabaseURL)
		} else {
			for _, m := range history(t, srv, "busy") {
				stored[m.ID]++
			}
		}
		if len(stored) != senders*each {
			t.Errorf("%d rows stored, want %d", len(stored), senders*each)
		}
		for id := range seen {
			if stored[id] != 1 {
				t.Errorf("acked id %d stored %d times", id, stored[id])
			}
		}
	})
}
