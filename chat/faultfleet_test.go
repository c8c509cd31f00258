package chat_test

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/chat/chattest"
	"github.com/edge-server/edge/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// fleet is a set of hubs on one Postgres, each reaching it through its own pgProxy, and
// the clients that use them. Hubs can be restarted; clients move to another hub when
// theirs goes away.
type fleet struct {
	t   *testing.T
	db  *pgtest.DB
	cfg chat.Config

	mu      sync.Mutex
	hubs    []*chattest.Server // nil while a hub is being restarted
	proxies []*pgProxy
	clients []*faultClient
}

func newFleet(t *testing.T, db *pgtest.DB, n int) *fleet {
	f := &fleet{t: t, db: db}
	f.cfg = fast(chat.Config{
		StartTimeout: 500 * time.Millisecond, DBTimeout: 2 * time.Second, ReplayMax: 1 << 20,
	})
	for i := range n {
		f.proxies = append(f.proxies, startPGProxy(t, hostOf(db.URL)))
		f.hubs = append(f.hubs, nil)
		f.startHub(i)
	}
	return f
}

func hostOf(raw string) string {
	u, _ := url.Parse(raw)
	return u.Host
}

func (f *fleet) startHub(i int) {
	cfg := f.cfg
	u, _ := url.Parse(f.db.URL)
	u.Host = f.proxies[i].addr()
	cfg.DatabaseURL = u.String()
	cfg.InstanceID = fmt.Sprintf("hub%d-%d", i, time.Now().UnixNano())
	srv := chattest.Start(f.t, cfg, nil)
	f.mu.Lock()
	f.hubs[i] = srv
	f.mu.Unlock()
}

// restartHub shuts hub i down (its clients reconnect elsewhere), runs during, and starts
// a new hub in its place.
func (f *fleet) restartHub(i int, during func()) {
	f.mu.Lock()
	srv := f.hubs[i]
	f.hubs[i] = nil
	f.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	if during != nil {
		during()
	}
	f.startHub(i)
}

// pick returns a live hub, preferring hub n.
func (f *fleet) pick(n int) (*chattest.Server, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.hubs {
		i := (n + k) % len(f.hubs)
		if f.hubs[i] != nil {
			return f.hubs[i], i
		}
	}
	return nil, -1
}

// addClients starts n clients spread over the hubs (client i's home is hub i mod hubs)
// and over rooms (client i is in room (i/2) mod rooms). Clients for which listenOnly says so never send: a hub whose members
// only listen learns that the database is back only from its poll and its LISTEN
// connection, which is when an early join could see more than the writer's cursor.
func (f *fleet) addClients(n int, rooms []string, listenOnly func(i int) bool) {
	for i := range n {
		srv, _ := f.pick(i)
		token, user := newSession(f.t, srv, anon(fmt.Sprintf("fault-%d", i)))
		c := &faultClient{f: f, idx: i, home: i % len(f.hubs), room: rooms[(i/2)%len(rooms)], token: token, user: user,
			acked: map[string]int64{}, sending: !listenOnly(i), finish: make(chan struct{}), done: make(chan struct{})}
		f.clients = append(f.clients, c)
		go c.run()
	}
	f.t.Cleanup(func() {
		for _, c := range f.clients {
			c.stop()
		}
	})
}

// quiesce stops new sends, waits until every client's last send is acked and every member
// has caught up with its room, then stops the clients.
func (f *fleet) quiesce() {
	for _, c := range f.clients {
		c.mu.Lock()
		c.sending = false
		c.mu.Unlock()
	}
	eventually(f.t, "every sent message to be acked", func() bool {
		for _, c := range f.clients {
			c.mu.Lock()
			o := c.outstanding
			c.mu.Unlock()
			if o != "" {
				return false
			}
		}
		return true
	})
	last := f.lastIDs()
	deadline := time.Now().Add(waitLong)
	for _, c := range f.clients {
		for {
			c.mu.Lock()
			seen := c.lastSeen
			c.mu.Unlock()
			if seen >= last[c.room] || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, c := range f.clients {
		c.stop()
	}
}

func (f *fleet) lastIDs() map[string]int64 {
	out := map[string]int64{}
	for _, r := range f.rows() {
		out[r.room] = max(out[r.room], r.id)
	}
	return out
}

type row struct {
	id               int64
	room, sender, ci string
}

func (f *fleet) rows() []row {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, f.db.URL)
	if err != nil {
		f.t.Fatalf("checker: connecting: %v", err)
	}
	defer conn.Close(ctx)
	rs, err := conn.Query(ctx, "SELECT id, room_id, sender_id, coalesce(client_id, '') FROM messages ORDER BY id")
	if err != nil {
		f.t.Fatalf("checker: %v", err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.id, &r.room, &r.sender, &r.ci); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// checkResult is what the checker counts. Every field but messages, acked and members
// must be 0.
type checkResult struct {
	messages, acked, members            int
	lost, dup, gaps, reorders, extra    int
	joinRefused, resent, hasMore, other int
}

func (r checkResult) String() string {
	return fmt.Sprintf("%d rows, %d acked, %d members: lost %d, duplicates %d, gaps %d, reorderings %d, unexpected %d, has_more %d, other errors %d (join refusals %d, resends %d)",
		r.messages, r.acked, r.members, r.lost, r.dup, r.gaps, r.reorders, r.extra, r.hasMore, r.other, r.joinRefused, r.resent)
}

func (r checkResult) ok() bool {
	return r.lost == 0 && r.dup == 0 && r.gaps == 0 && r.reorders == 0 && r.extra == 0 && r.hasMore == 0 && r.other == 0
}

// check: every acked message is in the table exactly once with its acked id, and every
// member received every committed message of its room above its join point exactly
// once, in order.
func (f *fleet) check() checkResult {
	rows := f.rows()
	var res checkResult
	res.messages = len(rows)
	type key struct{ sender, ci string }
	stored := map[key][]int64{}
	byRoom := map[string][]int64{}
	for _, r := range rows {
		stored[key{r.sender, r.ci}] = append(stored[key{r.sender, r.ci}], r.id)
		byRoom[r.room] = append(byRoom[r.room], r.id)
	}
	for _, c := range f.clients {
		c.mu.Lock()
		res.resent += c.resent
		res.joinRefused += c.joinRefused
		res.hasMore += c.hasMore
		res.other += c.otherErrors + c.ackMismatch
		for ci, id := range c.acked {
			res.acked++
			ids := stored[key{c.user.ID, ci}]
			switch {
			case len(ids) == 0:
				res.lost++
			case len(ids) > 1 || ids[0] != id:
				res.dup++
			}
		}
		if !c.joined {
			c.mu.Unlock()
			continue
		}
		res.members++
		want := byRoom[c.room]
		want = want[sort.Search(len(want), func(i int) bool { return want[i] > c.joinPoint }):]
		got := map[int64]int{}
		for i, id := range c.received {
			got[id]++
			if i > 0 && id < c.received[i-1] {
				res.reorders++
			}
		}
		wantSet := map[int64]bool{}
		for _, id := range want {
			wantSet[id] = true
			if got[id] == 0 {
				res.gaps++
			}
		}
		for id, n := range got {
			res.dup += n - 1
			if !wantSet[id] {
				res.extra++
			}
		}
		c.mu.Unlock()
	}
	return res
}

// longestAckPause is the longest time, within [from, to], in which no client of the
// given hubs got an ack.
func (f *fleet) longestAckPause(hubs map[int]bool, from, to time.Time) time.Duration {
	var ts []time.Time
	for _, c := range f.clients {
		c.mu.Lock()
		for _, a := range c.ackTimes {
			if hubs[a.hub] && !a.at.Before(from) && !a.at.After(to) {
				ts = append(ts, a.at)
			}
		}
		c.mu.Unlock()
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	prev, longest := from, time.Duration(0)
	for _, t := range append(ts, to) {
		longest = max(longest, t.Sub(prev))
		prev = t
	}
	return longest
}
