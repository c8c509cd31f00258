package chat_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/chat/chattest"
	"github.com/edge-server/edge/internal/pgtest"
)

// Delete under load, two hubs on one database: every member on both hubs gets the
// deleted frame within a second, REST history and a fresh join serve the placeholder,
// and a resume with "after" still sees consecutive ids (the row is kept).
func TestDeleteUnderLoadReachesBothHubs(t *testing.T) {
	db := pgtest.New(t)
	cfg := fast(chat.Config{DatabaseURL: db.URL, PollInterval: time.Hour})
	h1, h2 := chattest.Start(t, cfg, nil), chattest.Start(t, cfg, nil)
	var members []*tclient
	for i := range 10 {
		srv := h1
		if i%2 == 1 {
			srv = h2
		}
		c := connect(t, srv, anon(fmt.Sprintf("m%d", i)))
		c.join("blog", nil)
		members = append(members, c)
	}
	spammer := members[0]
	spammer.say("blog", "spam", "BUY CHEAP PILLS")
	spamID := spammer.waitType("ack").ID

	// Load: four senders (two per hub) keep writing while the delete happens.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range members[1:5] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c.say("blog", fmt.Sprintf("load-%d", i), fmt.Sprintf("load %d", i))
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	out := newAdmin(t, h2).ok("POST", "/chat/delete", map[string]any{"ids": []int64{spamID}})
	if d := out["deleted"].([]any); len(d) != 1 {
		t.Fatalf("deleted %v", out)
	}
	var worst time.Duration
	for i, c := range members {
		for {
			f := c.next()
			if f.Type == "deleted" {
				if f.ID != spamID || f.Room != "blog" {
					t.Fatalf("member %d: deleted frame %+v", i, f)
				}
				break
			}
		}
		worst = max(worst, time.Since(start))
	}
	close(stop)
	wg.Wait()
	t.Logf("slowest member saw the deletion %v after the request was sent (5 members on each hub, 4 senders)", worst)
	if worst > time.Second {
		t.Fatalf("a member waited %v for the deletion", worst)
	}

	for _, srv := range []*chattest.Server{h1, h2} {
		var found bool
		for _, m := range history(t, srv, "blog") {
			if m.ID == spamID {
				found = true
				if !m.Deleted || m.Content != "" {
					t.Fatalf("REST serves the deleted message as %+v", m)
				}
			} else if m.Deleted {
				t.Fatalf("message %d is marked deleted too", m.ID)
			}
		}
		if !found {
			t.Fatal("the deleted message's row is gone from REST history")
		}
	}
	fresh := connect(t, h1, anon("late"))
	for _, m := range fresh.join("blog", nil).Messages {
		if m.ID == spamID && (!m.Deleted || m.Content != "") {
			t.Fatalf("history frame serves %+v", m)
		}
	}
	resumed := connect(t, h2, anon("resume"))
	msgs := resumed.join("blog", ptr(spamID-1)).Messages
	if len(msgs) == 0 || msgs[0].ID != spamID || !msgs[0].Deleted {
		t.Fatalf("resume after %d starts with %+v", spamID-1, msgs[:min(1, len(msgs))])
	}
	for i := 1; i < len(msgs); i++ {
		if msgs[i].ID <= msgs[i-1].ID {
			t.Fatalf("resume out of order at %d", i)
		}
	}
}

func TestDeleteBadInput(t *testing.T) {
	forStores(t, func(t *testing.T, cfg chat.Config) {
		srv := chattest.Start(t, cfg, nil)
		c := connect(t, srv, anon("a"))
		c.join("r", nil)
		c.say("r", "k1", "keep me")
		id := c.waitType("ack").ID
		a := newAdmin(t, srv)
		for _, tc := range []struct {
			body   any
			status int
			want   string
		}{
			{map[string]any{"ids": []int64{id, id + 1000}}, 404, fmt.Sprintf("there is no message with id %d; nothing was deleted", id+1000)},
			{map[string]any{"ids": []int64{}}, 400, "name at least one message id"},
			{map[string]any{"ids": []int64{-3}}, 400, "-3 is not a message id"},
			{map[string]any{"idz": []int64{id}}, 400, "unknown field"},
			{"not an object", 400, "not the expected JSON"},
		} {
			status, out := a.call("POST", "/chat/delete", tc.body)
			if status != tc.status || !strings.Contains(fmt.Sprint(out["error"]), tc.want) {
				t.Errorf("%v: %d %v, want %d %q", tc.body, status, out, tc.status, tc.want)
			}
		}
		if h := history(t, srv, "r"); len(h) != 1 || h[0].Deleted || h[0].Content != "keep me" {
			t.Fatalf("a refused delete changed history: %+v", h)
		}
		if status, out := a.call("GET", "/chat/delete", nil); status != 405 {
			t.Errorf("GET /chat/delete: %d %v", status, out)
		}
	})
}

// The moderation API is not part of the public chat handler: forged paths under the
// mount answer 404 and change nothing.
func TestAdminPathsNotOnThePublicHandler(t *testing.T) {
	srv := chattest.Start(t, chat.Config{}, nil)
	c := connect(t, srv, anon("a"))
	c.join("r", nil)
	c.say("r", "k1", "still here")
	id := c.waitType("ack").ID
	body := fmt.Sprintf(`{"ids":[%d],"cidr":"0.0.0.0/0","user":%q}`, id, c.user.ID)
	for _, p := range []string{"delete", "ban", "unban", "bans", "rooms", "chat/delete", "admin/delete", "api/delete",
		"api/ban", "api/admin/ban", "../chat/ban", "%64elete", "api/rooms/r/delete", "api/rooms/r/messages/delete"} {
		for _, method := range []string{"GET", "POST"} {
			req, _ := httpRequest(method, srv.URL+p, body)
			res, err := fromAddr("127.0.0.1").Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 404 && res.StatusCode != 405 {
				t.Errorf("%s %s on the public handler: %d", method, p, res.StatusCode)
			}
		}
	}
	if h := history(t, srv, "r"); len(h) != 1 || h[0].Deleted {
		t.Fatalf("history changed: %+v", h)
	}
	if a := sessionFrom(t, srv, "127.0.0.1", anon("a"), nil); a.status != 200 {
		t.Fatalf("a forged ban took effect: %d %s", a.status, a.code)
	}
}

// Bans on two hubs: by user, then by /24 (a fresh anon_id from the same /24 is refused
// too), open sockets closed with 4003 on both hubs, other addresses unaffected, unban
// restores access.
func TestBansOnBothHubs(t *testing.T) {
	db := pgtest.New(t)
	cfg := chat.Config{DatabaseURL: db.URL, PollInterval: time.Hour}
	h1, h2 := chattest.Start(t, cfg, nil), chattest.Start(t, cfg, nil)
	a := newAdmin(t, h1)

	spam1 := connectFrom(t, h1, "127.0.0.2", anon("spammer"))
	spam2 := connectFrom(t, h2, "127.0.0.3", anon("spammer")) // the same user on the other hub
	neighbour := connectFrom(t, h2, "127.0.0.9", anon("neighbour"))
	outsider := connectFrom(t, h1, "127.0.1.5", anon("outsider"))

	out := a.ok("POST", "/chat/ban", map[string]any{"user": spam1.user.ID, "reason": "spam"})
	if out["closed"].(float64) != 1 {
		t.Fatalf("ban answered %v (one socket on this hub)", out)
	}
	for name, c := range map[string]*tclient{"hub 1": spam1, "hub 2": spam2} {
		f := c.waitType("error")
		if f.Code != "banned" || !strings.Contains(f.Text, "spam") {
			t.Fatalf("%s: error frame %+v", name, f)
		}
		if code := c.waitClose(); code != chat.CloseBanned {
			t.Fatalf("%s: close code %d, want %d", name, code, chat.CloseBanned)
		}
	}
	for _, srv := range []*chattest.Server{h1, h2} {
		if s := sessionFrom(t, srv, "127.0.0.200", anon("spammer"), nil); s.status != 403 || s.code != "banned" {
			t.Fatalf("banned user got a session: %+v", s)
		}
	}
	// Its old token is refused at the WebSocket too.
	late := dialFrom(t, h2, "127.0.0.4", spam1.token)
	if f := late.waitType("error"); f.Code != "banned" || late.waitClose() != chat.CloseBanned {
		t.Fatalf("old token: %+v", f)
	}

	a.ok("POST", "/chat/ban", map[string]any{"cidr": "127.0.0.77/24", "for": "1h"})
	if f := neighbour.waitType("error"); f.Code != "banned" || neighbour.waitClose() != chat.CloseBanned {
		t.Fatalf("neighbour in the /24 on hub 2: %+v", f)
	}
	for _, srv := range []*chattest.Server{h1, h2} {
		if s := sessionFrom(t, srv, "127.0.0.10", "", nil); s.status != 403 || s.code != "banned" {
			t.Fatalf("fresh anon_id from the banned /24 got %+v", s)
		}
	}
	outsider.join("r", nil)
	outsider.say("r", "k", "still allowed")
	if f := outsider.waitType("ack"); f.ClientID != "k" {
		t.Fatalf("outsider: %+v", f)
	}
	bans := a.ok("GET", "/chat/bans", nil)["bans"].([]any)
	if len(bans) != 2 || bans[1].(map[string]any)["cidr"] != "127.0.0.0/24" || bans[1].(map[string]any)["expires_at"] == nil {
		t.Fatalf("bans %v", bans)
	}

	a.ok("POST", "/chat/unban", map[string]any{"cidr": "127.0.0.0/24"})
	a.ok("POST", "/chat/unban", map[string]any{"user": spam1.user.ID})
	eventually(t, "unban on hub 2", func() bool {
		return sessionFrom(t, h2, "127.0.0.10", anon("spammer"), nil).status == 200
	})
	back := connectFrom(t, h1, "127.0.0.2", anon("spammer"))
	back.join("r", nil)
}

func TestBanBadInput(t *testing.T) {
	forStores(t, func(t *testing.T, cfg chat.Config) {
		srv := chattest.Start(t, cfg, nil)
		a := newAdmin(t, srv)
		for _, tc := range []struct {
			body   map[string]any
			status int
			want   string
		}{
			{map[string]any{"cidr": "10.0.0.0/33"}, 400, `"10.0.0.0/33" is not an address or CIDR range`},
			{map[string]any{"cidr": "banana"}, 400, `"banana" is not an address or CIDR range`},
			{map[string]any{"user": "u0123456789abcdef01234567"}, 404, "no user u0123456789abcdef01234567 has sent a message or is connected"},
			{map[string]any{"user": "alice"}, 400, `"alice" is not a user id`},
			{map[string]any{}, 400, "name a user (--user ID) or an address range (--ip CIDR)"},
			{map[string]any{"user": "u0123456789abcdef01234567", "cidr": "10.0.0.0/8"}, 400, "not both"},
			{map[string]any{"cidr": "10.0.0.0/8", "for": "forever"}, 400, `"forever" is not a positive duration`},
			{map[string]any{"cidr": "10.0.0.0/8", "for": "-1h"}, 400, "not a positive duration"},
		} {
			status, out := a.call("POST", "/chat/ban", tc.body)
			if status != tc.status || !strings.Contains(fmt.Sprint(out["error"]), tc.want) {
				t.Errorf("%v: %d %v, want %d %q", tc.body, status, out, tc.status, tc.want)
			}
		}
		if status, out := a.call("POST", "/chat/unban", map[string]any{"cidr": "10.9.0.0/16"}); status != 404 ||
			!strings.Contains(fmt.Sprint(out["error"]), "there is no ban on address range 10.9.0.0/16") {
			t.Errorf("unban of nothing: %d %v", status, out)
		}
		if bans := a.ok("GET", "/chat/bans", nil)["bans"].([]any); len(bans) != 0 {
			t.Fatalf("refused bans were stored: %v", bans)
		}
		b := a.ok("POST", "/chat/ban", map[string]any{"cidr": "2001:db8:1:2::7/64", "for": "90m", "reason": "flood"})["ban"].(map[string]any)
		created, _ := time.Parse(time.RFC3339, fmt.Sprint(b["created_at"]))
		expires, _ := time.Parse(time.RFC3339, fmt.Sprint(b["expires_at"]))
		if b["cidr"] != "2001:db8:1:2::/64" || b["reason"] != "flood" || time.Since(created) > time.Minute ||
			expires.Sub(created) < 89*time.Minute || expires.Sub(created) > 91*time.Minute {
			t.Fatalf("stored ban %v", b)
		}
	})
}

// 1,000 session requests in a loop from one address: most get 429 with Retry-After,
// X-Forwarded-For does not move the key (the client is the socket peer), another
// address is unaffected and the server stays responsive.
func TestSessionRateLimitPerAddress(t *testing.T) {
	srv := chattest.Start(t, chat.Config{}, nil)
	var mu sync.Mutex
	counts := map[int]int{}
	var retry string
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 4 { // four loops from one address, spoofing forwarding headers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 250 {
				hdr := map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", (w*250+i)%250), "X-Real-IP": fmt.Sprintf("203.0.113.%d", i), "Forwarded": "for=192.0.2.1"}
				s := sessionFrom(t, srv, "127.0.0.20", "", hdr)
				mu.Lock()
				counts[s.status]++
				if s.status == 429 {
					retry = s.retryAfter
					if s.code != "rate_limited" {
						t.Errorf("429 with code %q", s.code)
					}
				}
				mu.Unlock()
			}
		}()
	}
	// While the flood runs, another address is served promptly.
	var worst time.Duration
	for range 5 {
		t0 := time.Now()
		if s := sessionFrom(t, srv, "127.0.0.21", "", nil); s.status != 200 {
			t.Fatalf("another address during the flood: %+v", s)
		}
		worst = max(worst, time.Since(t0))
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("1000 requests from one address in %v: %v; another address's slowest session during the flood: %v", time.Since(start), counts, worst)
	if counts[429] < 900 || counts[200]+counts[429] != 1000 || counts[200] < 20 {
		t.Fatalf("statuses %v: want the burst (20) and a few refills to pass, the rest 429", counts)
	}
	if retry == "" || retry == "0" {
		t.Fatalf("Retry-After %q", retry)
	}
	if worst > time.Second {
		t.Fatalf("another address waited %v during the flood", worst)
	}
}

// A join that brings a room into existence counts against the address's hourly cap;
// rejoining a counted room or joining one with members does not.
func TestRoomCreationCap(t *testing.T) {
	srv := chattest.Start(t, chat.Config{RoomsPerAddrHour: 3}, nil)
	host := connectFrom(t, srv, "127.0.0.30", anon("host"))
	host.join("lobby", nil)
	c := connectFrom(t, srv, "127.0.0.31", anon("creator"))
	for i := range 3 {
		c.join(fmt.Sprintf("new-%d", i), nil)
	}
	c.send(map[string]any{"type": "join", "room": "new-3"})
	if f := c.waitType("error"); f.Code != "room_limit" || f.Room != "new-3" {
		t.Fatalf("fourth new room: %+v", f)
	}
	c.send(map[string]any{"type": "leave", "room": "new-0"})
	c.join("new-0", nil) // counted already
	c.join("lobby", nil) // exists: somebody is in it
	// A fresh anon_id from the same address does not reset the cap.
	d := connectFrom(t, srv, "127.0.0.31", anon("creator2"))
	d.send(map[string]any{"type": "join", "room": "new-4"})
	if f := d.waitType("error"); f.Code != "room_limit" {
		t.Fatalf("fresh identity, same address: %+v", f)
	}
}

func TestWordFilterRejectsAndReloads(t *testing.T) {
	srv := chattest.Start(t, chat.Config{Filter: chat.FilterConfig{Words: []string{"pills", "카지노"}, Patterns: []string{`(?i)https?://\S*\.xyz\b`}}}, nil)
	c := connect(t, srv, anon("a"))
	c.join("r", nil)
	for i, text := range []string{"cheap PILLS here", "최고의카지노사이트", "see http://evil.xyz/now"} {
		id := fmt.Sprintf("bad-%d", i)
		c.say("r", id, text)
		if f := c.waitType("error"); f.Code != "filtered" || f.ClientID != id {
			t.Fatalf("%q: %+v", text, f)
		}
	}
	c.say("r", "ok-1", "spillsover is a word that merely contains the filtered one")
	if f := c.waitType("ack"); f.ClientID != "ok-1" {
		t.Fatalf("whole-word match: %+v", f)
	}
	if err := srv.Hub.SetFilter(chat.FilterConfig{Patterns: []string{"("}}); err == nil || !strings.Contains(err.Error(), `filter pattern "("`) {
		t.Fatalf("bad pattern: %v", err)
	}
	c.say("r", "bad-x", "pills again") // the bad reload left the old filter in place
	if f := c.waitType("error"); f.Code != "filtered" {
		t.Fatalf("after a refused reload: %+v", f)
	}
	if err := srv.Hub.SetFilter(chat.FilterConfig{Words: []string{"spam"}}); err != nil {
		t.Fatal(err)
	}
	c.say("r", "ok-2", "pills are fine now")
	if f := c.waitType("ack"); f.ClientID != "ok-2" {
		t.Fatalf("after reload: %+v", f)
	}
	if h := history(t, srv, "r"); len(h) != 2 {
		t.Fatalf("filtered messages were stored: %+v", h)
	}
}

func TestRoomsListing(t *testing.T) {
	forStores(t, func(t *testing.T, cfg chat.Config) {
		srv := chattest.Start(t, cfg, nil)
		c := connect(t, srv, anon("a"))
		c.join("busy", nil)
		c.join("quiet", nil)
		for i := range 3 {
			c.say("busy", fmt.Sprintf("b%d", i), "hi")
			c.waitType("ack")
		}
		rooms := newAdmin(t, srv).ok("GET", "/chat/rooms", nil)["rooms"].([]any)
		if len(rooms) != 2 {
			t.Fatalf("rooms %v", rooms)
		}
		busy, quiet := rooms[0].(map[string]any), rooms[1].(map[string]any)
		if busy["room"] != "busy" || busy["messages"].(float64) != 3 || busy["online"].(float64) != 1 || busy["last_activity"] == nil {
			t.Fatalf("busy %v", busy)
		}
		if quiet["room"] != "quiet" || quiet["messages"].(float64) != 0 || quiet["online"].(float64) != 1 {
			t.Fatalf("quiet %v", quiet)
		}
	})
}

// A member that was away when a message it already shows was deleted learns of it on
// resume: a deleted frame comes with the (empty) replay.
func TestResumeLearnsOfDeletionsWhileAway(t *testing.T) {
	forStores(t, func(t *testing.T, cfg chat.Config) {
		srv := chattest.Start(t, cfg, nil)
		a := connect(t, srv, anon("a"))
		a.join("r", nil)
		var ids []int64
		for i := range 3 {
			a.say("r", fmt.Sprintf("k%d", i), fmt.Sprintf("m%d", i))
			ids = append(ids, a.waitType("ack").ID)
		}
		b := connect(t, srv, anon("b"))
		b.join("r", nil)
		b.conn.Close()
		b.waitClose()
		newAdmin(t, srv).ok("POST", "/chat/delete", map[string]any{"ids": []int64{ids[1]}})
		back := connect(t, srv, anon("b"))
		back.send(map[string]any{"type": "join", "room": "r", "after": ids[2]})
		var gotHistory, gotDeleted bool
		for !gotHistory || !gotDeleted {
			switch f := back.next(); f.Type {
			case "history":
				if len(f.Messages) != 0 {
					t.Fatalf("resume replayed %+v", f.Messages)
				}
				gotHistory = true
			case "deleted":
				if f.ID != ids[1] || f.Room != "r" {
					t.Fatalf("deleted frame %+v", f)
				}
				gotDeleted = true
			}
		}
	})
}

// Filter action "hold": the sender is told, nobody sees the message until an operator
// approves it (then it is delivered like a fresh send, once even if approved twice);
// rejected ones are gone.
func TestFilterHoldForReview(t *testing.T) {
	forStores(t, func(t *testing.T, cfg chat.Config) {
		cfg.Filter = chat.FilterConfig{Words: []string{"casino"}, Action: "hold"}
		srv := chattest.Start(t, cfg, nil)
		a, b := connect(t, srv, anon("a")), connect(t, srv, anon("b"))
		a.join("r", nil)
		b.join("r", nil)
		a.say("r", "h1", "best casino in town")
		if f := a.waitType("error"); f.Code != "held" || f.ClientID != "h1" {
			t.Fatalf("held: %+v", f)
		}
		a.say("r", "h1", "best casino in town") // a resend is one entry
		a.waitType("error")
		a.say("r", "h2", "another casino")
		a.waitType("error")
		adm := newAdmin(t, srv)
		held := adm.ok("GET", "/chat/held", nil)["held"].([]any)
		if len(held) != 2 {
			t.Fatalf("held %v", held)
		}
		first := int64(held[0].(map[string]any)["id"].(float64))
		second := int64(held[1].(map[string]any)["id"].(float64))
		if status, out := adm.call("POST", "/chat/approve", map[string]any{"ids": []int64{first, 9999}}); status != 404 ||
			!strings.Contains(fmt.Sprint(out["error"]), "there is no held message with id 9999; nothing was changed") {
			t.Fatalf("approve unknown: %d %v", status, out)
		}
		out := adm.ok("POST", "/chat/approve", map[string]any{"ids": []int64{first}})
		id := int64(out["approved"].([]any)[0].(map[string]any)["id"].(float64))
		if m := b.waitMessage(id); m.Content != "best casino in town" || m.SenderID != a.user.ID || m.ClientID != "h1" {
			t.Fatalf("b got %+v", m)
		}
		adm.ok("POST", "/chat/reject", map[string]any{"ids": []int64{second}})
		if held := adm.ok("GET", "/chat/held", nil)["held"].([]any); len(held) != 0 {
			t.Fatalf("still held %v", held)
		}
		if h := history(t, srv, "r"); len(h) != 1 || h[0].ID != id {
			t.Fatalf("history %+v", h)
		}
	})
}
