package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/chat/chattest"
	"github.com/edge-server/edge/internal/pgtest"
	"github.com/fasthttp/websocket"
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
