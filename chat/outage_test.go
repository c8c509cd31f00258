package chat_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/chat/chattest"
	"github.com/edge-server/edge/internal/pgtest"
)

// sendUntilAcked sends one message and retries it (same client_id) while the answer is
// "unavailable" (counting those answers in unavailable, if not nil).
func sendUntilAcked(t *testing.T, c *tclient, room, cid string, stop <-chan struct{}, unavailable *atomic.Int64) (id int64, ok bool) {
	c.say(room, cid, "content of "+cid)
	for {
		f := c.next()
		switch {
		case f.Type == "ack" && f.ClientID == cid:
			return f.ID, true
		case f.Type == "error" && f.ClientID == cid && f.Code == "unavailable":
			if unavailable != nil {
				unavailable.Add(1)
			}
			select {
			case <-stop:
				return 0, false
			case <-time.After(50 * time.Millisecond):
			}
			c.say(room, cid, "content of "+cid)
		case f.Type == "error":
			t.Errorf("unexpected error frame %s: %s", f.Code, f.Text)
			return 0, false
		}
	}
}

func TestPostgresOutageLosesNoAckedMessage(t *testing.T) {
	db := pgtest.New(t)
	cfg := fast(chat.Config{DatabaseURL: db.URL, DBTimeout: 2 * time.Second})
	srv := chattest.Start(t, cfg, nil)
	t.Cleanup(func() { _ = db.Server.Start() })

	const n = 4
	var (
		mu          sync.Mutex
		acked       []int64
		unavailable atomic.Int64
		progress    [n]atomic.Int64
		wg          sync.WaitGroup
	)
	stop := make(chan struct{})
	clients := make([]*tclient, n)
	for i := range clients {
		clients[i] = connect(t, srv, anon(fmt.Sprintf("o%d", i)))
		clients[i].join("outage", nil)
	}
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				id, ok := sendUntilAcked(t, c, "outage", fmt.Sprintf("m%d", j), stop, &unavailable)
				if !ok {
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
				progress[i].Add(1)
			}
		}()
	}
	waitProgress := func(min int64) {
		t.Helper()
		eventually(t, fmt.Sprintf("every sender to have %d acks", min), func() bool {
			for i := range progress {
				if progress[i].Load() < min {
					return false
				}
			}
			return true
		})
	}
	waitProgress(20)
	if err := db.Server.Stop(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "sends to be refused as unavailable", func() bool { return unavailable.Load() >= 8 })
	time.Sleep(300 * time.Millisecond)
	if err := db.Server.Start(); err != nil {
		t.Fatal(err)
	}
	var before [n]int64
	for i := range progress {
		before[i] = progress[i].Load()
	}
	eventually(t, "sends to succeed again", func() bool {
		for i := range progress {
			if progress[i].Load() < before[i]+20 {
				return false
			}
		}
		return true
	})
	close(stop)
	wg.Wait()

	for i, c := range clients {
		select {
		case <-c.done:
			t.Errorf("client %d was disconnected during the outage: %v", i, c.err)
		default:
		}
	}
	stored := countIDs(t, db.URL)
	mu.Lock()
	defer mu.Unlock()
	for _, id := range acked {
		if stored[id] != 1 {
			t.Errorf("acked message %d is stored %d times", id, stored[id])
		}
	}
	t.Logf("%d acked, %d unavailable answers during the outage, %d rows", len(acked), unavailable.Load(), len(stored))
}

func TestStartWithDatabaseDownThenRecovers(t *testing.T) {
	db := pgtest.New(t)
	if err := db.Server.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Server.Start() })
	cfg := chat.Config{DatabaseURL: db.URL, StartTimeout: time.Second, DBTimeout: 2 * time.Second, PollInterval: 200 * time.Millisecond}
	t0 := time.Now()
	srv := chattest.Start(t, cfg, nil)
	if took := time.Since(t0); took > 10*time.Second {
		t.Fatalf("Start blocked %v with the database down", took)
	}
	c := connect(t, srv, anon("early"))
	c.send(map[string]any{"type": "join", "room": "r"})
	if f := c.waitType("error"); f.Code != "unavailable" || f.Room != "r" {
		t.Fatalf("join with the database down: %+v", f)
	}
	c.say("r", "first", "hello")
	if f := c.waitType("error"); f.Code != "unavailable" || f.ClientID != "first" {
		t.Fatalf("send with the database down: %+v", f)
	}
	if err := db.Server.Start(); err != nil {
		t.Fatal(err)
	}
	id, ok := sendUntilAcked(t, c, "r", "first", nil, nil)
	if !ok || id <= 0 {
		t.Fatalf("send after recovery: id %d ok %v", id, ok)
	}
	if msgs := history(t, srv, "r"); len(msgs) != 1 || msgs[0].ID != id {
		t.Fatalf("history after recovery = %+v", msgs)
	}
}
