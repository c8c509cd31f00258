package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/edge-server/edge/internal/pgtest"
	"github.com/edge-server/edge/internal/wait"
)

// chatFrame is what the fleet chat test reads from the server.
type chatFrame struct {
	Type     string        `json:"type"`
	Room     string        `json:"room"`
	Online   int           `json:"online"`
	ClientID string        `json:"client_id"`
	ID       int64         `json:"id"`
	Message  *chatMessage  `json:"message"`
	Messages []chatMessage `json:"messages"`
	Code     string        `json:"code"`
}

type chatMessage struct {
	ID       int64  `json:"id"`
	ClientID string `json:"client_id"`
}

// fleetChatter is one visitor: a WebSocket to one instance, and everything it got.
type fleetChatter struct {
	t     *testing.T
	conn  *websocket.Conn
	token string

	mu      sync.Mutex
	ids     []int64              // message ids in arrival order (history and live)
	arrived map[string]time.Time // client_id → when it arrived
	online  int                  // last presence
	acks    chan chatFrame
	closed  chan struct{}
}

func fleetChatSession(t *testing.T, addr, anon string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"anon_id": anon})
	res, err := http.Post("http://"+addr+"/chat/api/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Token string }
	if res.StatusCode != 200 || json.NewDecoder(res.Body).Decode(&out) != nil {
		t.Fatalf("session on %s: %d", addr, res.StatusCode)
	}
	return out.Token
}

func (c *fleetChatter) dial(addr string, after int64) {
	c.t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, _, err := d.Dial("ws://"+addr+"/chat/ws?token="+c.token, nil)
	if err != nil {
		c.t.Fatalf("ws to %s: %v", addr, err)
	}
	c.conn, c.closed = conn, make(chan struct{})
	c.t.Cleanup(func() { _ = conn.Close() })
	go c.read(conn, c.closed)
	join := map[string]any{"type": "join", "room": "fleet"}
	if after > 0 {
		join["after"] = after
	}
	c.send(join)
}

func (c *fleetChatter) send(v any) {
	b, _ := json.Marshal(v)
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Errorf("write: %v", err)
	}
}

func (c *fleetChatter) read(conn *websocket.Conn, closed chan struct{}) {
	defer close(closed)
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		var f chatFrame
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		now := time.Now()
		c.mu.Lock()
		switch f.Type {
		case "history":
			for _, m := range f.Messages {
				c.ids = append(c.ids, m.ID)
				c.arrived[m.ClientID] = now
			}
		case "message":
			c.ids = append(c.ids, f.Message.ID)
			c.arrived[f.Message.ClientID] = now
		case "presence":
			c.online = f.Online
		}
		c.mu.Unlock()
		if f.Type == "ack" || (f.Type == "error" && f.ClientID != "") {
			c.acks <- f
		}
	}
}

// say sends one message and waits for its ack.
func (c *fleetChatter) say(cid string) int64 {
	c.send(map[string]any{"type": "send", "room": "fleet", "content": "hello " + cid, "client_id": cid})
	select {
	case f := <-c.acks:
		if f.Type != "ack" || f.ClientID != cid {
			c.t.Fatalf("send %s answered %+v", cid, f)
		}
		return f.ID
	case <-time.After(10 * time.Second):
		c.t.Fatalf("no ack for %s", cid)
	}
	return 0
}

func (c *fleetChatter) snapshot() (ids []int64, online int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ids), c.online
}

// startChatFleet runs three edge processes with the chat on one Postgres and returns
// their addresses and processes.
func startChatFleet(t *testing.T, chatExtra string) ([]string, []*edgeProc) {
	t.Helper()
	db := pgtest.New(t)
	base, err := os.MkdirTemp("", "edgechat")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	addrs := make([]string, 3)
	procs := make([]*edgeProc, 3)
	for i := range addrs {
		dir := filepath.Join(base, fmt.Sprint(i+1))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		addrs[i] = freeAddr(t)
		conf := filepath.Join(dir, "edge.yaml")
		yaml := fmt.Sprintf(`state_dir: %s/state
admin_socket: %s/admin.sock
metrics: ""
access_log: false
listen: { http: "%s", https: "" }
cluster: { database_url: "%s", name: chat-%d, heartbeat: 200ms }
sites:
  - hosts: [127.0.0.1]
    routes:
      - { path: /chat/, chat: true }
chat: { database_url: "%s"%s }
`, dir, dir, addrs[i], db.URL, i+1, db.URL, chatExtra)
		if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		procs[i] = startEdge(t, conf, nil, "")
	}
	for _, p := range procs {
		p.waitReady(t)
	}
	return addrs, procs
}

// TestFleetChatEndToEnd: three edge processes share one chat. A token from one
// instance is accepted by the others, presence counts the visitors of all three,
// every acknowledged message reaches every member exactly once and in order, and
// after one instance is SIGKILLed its visitors resume on another with after and miss
// nothing. It reports cross-instance delivery latency.
func TestFleetChatEndToEnd(t *testing.T) {
	addrs, procs := startChatFleet(t, "")

	// Two visitors per instance; every token comes from instance 1.
	var cs []*fleetChatter
	home := map[*fleetChatter]int{}
	for i := range 6 {
		c := &fleetChatter{t: t, token: fleetChatSession(t, addrs[0], fmt.Sprintf("fleet-visitor-%08d", i)),
			arrived: map[string]time.Time{}, acks: make(chan chatFrame, 16)}
		c.dial(addrs[i%3], 0)
		home[c] = i % 3
		cs = append(cs, c)
	}
	lastPresence := ""
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last presence seen by the visitors: %s", lastPresence)
		}
	})
	presenceIs := func(n int, among []*fleetChatter) func() bool {
		return func() bool {
			var seen []int
			ok := true
			for _, c := range among {
				_, on := c.snapshot()
				seen = append(seen, on)
				ok = ok && on == n
			}
			if !ok {
				lastPresence = fmt.Sprint(seen)
			}
			return ok
		}
	}
	wait.Until(t, 10*time.Second, "every visitor to see 6 online", presenceIs(6, cs))

	sent := map[string]time.Time{}
	var sentMu sync.Mutex
	from := map[string]int{}
	var acked []int64
	var ackMu sync.Mutex
	round := func(senders []*fleetChatter, tag string, n int) {
		var wg sync.WaitGroup
		for si, c := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range n {
					cid := fmt.Sprintf("%s-%d-%d", tag, si, j)
					sentMu.Lock()
					sent[cid], from[cid] = time.Now(), home[c]
					sentMu.Unlock()
					id := c.say(cid)
					ackMu.Lock()
					acked = append(acked, id)
					ackMu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	allDelivered := func(among []*fleetChatter) {
		t.Helper()
		ackMu.Lock()
		want := slices.Clone(acked)
		ackMu.Unlock()
		slices.Sort(want)
		wait.Until(t, 15*time.Second, fmt.Sprintf("%d messages to reach every visitor", len(want)), func() bool {
			for _, c := range among {
				if ids, _ := c.snapshot(); len(ids) < len(want) {
					return false
				}
			}
			return true
		})
		for i, c := range among {
			ids, _ := c.snapshot()
			if !slices.IsSorted(ids) || !slices.Equal(ids, want) {
				t.Errorf("visitor %d got %d messages (sorted %v); want exactly the %d acknowledged, once each, in order",
					i, len(ids), slices.IsSorted(ids), len(want))
			}
		}
	}
	round(cs, "a", 20)
	allDelivered(cs)

	// Cross-instance delivery latency: send → arrival at visitors of other instances.
	var lat []time.Duration
	for _, c := range cs {
		c.mu.Lock()
		for cid, at := range c.arrived {
			if from[cid] != home[c] {
				lat = append(lat, at.Sub(sent[cid]))
			}
		}
		c.mu.Unlock()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("cross-instance delivery (send → other instance's visitor), %d samples: p50 %v, p99 %v, max %v",
		len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])

	// Instance 3 dies without a word; its visitors come back on instance 1 with after.
	if err := procs[2].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	var survivors, orphans []*fleetChatter
	for _, c := range cs {
		if home[c] == 2 {
			orphans = append(orphans, c)
		} else {
			survivors = append(survivors, c)
		}
	}
	for _, c := range orphans {
		select {
		case <-c.closed:
		case <-time.After(10 * time.Second):
			t.Fatal("a visitor of the killed instance was not disconnected")
		}
	}
	round(survivors, "b", 10) // sent while the orphans are away
	for _, c := range orphans {
		ids, _ := c.snapshot()
		c.dial(addrs[0], ids[len(ids)-1])
		home[c] = 0
	}
	round(cs, "c", 5)
	allDelivered(cs)
	wait.Until(t, 10*time.Second, "presence to be the true total (6) again", presenceIs(6, cs))
}

// newChatter opens a session (on tokenAddr) and a WebSocket to addr, joined to the room.
func newChatter(t *testing.T, tokenAddr, addr, anon string) *fleetChatter {
	c := &fleetChatter{t: t, token: fleetChatSession(t, tokenAddr, anon), arrived: map[string]time.Time{}, acks: make(chan chatFrame, 1<<14)}
	c.dial(addr, 0)
	return c
}

// TestFleetChatDeliveryBenchmark measures cross-instance delivery latency at 1000
// messages per second (three senders, one per instance, six receivers). It is a
// benchmark, run on request: EDGE_FLEET_BENCH=1 go test ./cmd/edge -run ChatDeliveryBenchmark -v
func TestFleetChatDeliveryBenchmark(t *testing.T) {
	if os.Getenv("EDGE_FLEET_BENCH") == "" {
		t.Skip("a benchmark: set EDGE_FLEET_BENCH=1 to run it")
	}
	addrs, _ := startChatFleet(t, ", message_rate: 2000, message_burst: 2000")
	var senders, receivers []*fleetChatter
	home := map[*fleetChatter]int{}
	for i := range 3 {
		c := newChatter(t, addrs[0], addrs[i], fmt.Sprintf("bench-sender-%08d", i))
		senders, home[c] = append(senders, c), i
	}
	for i := range 6 {
		c := newChatter(t, addrs[0], addrs[i%3], fmt.Sprintf("bench-reader-%08d", i))
		receivers, home[c] = append(receivers, c), i%3
	}
	time.Sleep(time.Second) // joins and replays done
	const rate, dur = 1000, 5 * time.Second
	per := time.Second * time.Duration(len(senders)) / rate
	sent := sync.Map{}
	var wg sync.WaitGroup
	total := 0
	for si, c := range senders {
		wg.Add(1)
		n := int(dur / per)
		total += n
		go func() {
			defer wg.Done()
			tick := time.NewTicker(per)
			defer tick.Stop()
			for j := range n {
				<-tick.C
				cid := fmt.Sprintf("s%d-%d", si, j)
				sent.Store(cid, [2]any{time.Now(), home[c]})
				c.send(map[string]any{"type": "send", "room": "fleet", "content": cid, "client_id": cid})
			}
		}()
	}
	wg.Wait()
	wait.Until(t, 30*time.Second, "every receiver to get every message", func() bool {
		for _, r := range receivers {
			if ids, _ := r.snapshot(); len(ids) < total {
				return false
			}
		}
		return true
	})
	var lat []time.Duration
	for _, r := range receivers {
		r.mu.Lock()
		for cid, at := range r.arrived {
			v, _ := sent.Load(cid)
			s := v.([2]any)
			if s[1].(int) != home[r] {
				lat = append(lat, at.Sub(s[0].(time.Time)))
			}
		}
		r.mu.Unlock()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("%d msgs at %d/s over 3 instances; cross-instance delivery, %d samples: p50 %v, p90 %v, p99 %v, max %v",
		total, rate, len(lat), lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)*99/100], lat[len(lat)-1])
}
