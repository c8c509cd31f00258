package chat_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/chat/chattest"
	"github.com/edge-server/edge/internal/pgtest"
	"github.com/fasthttp/websocket"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestShutdownFlushesThenClosesWith1001(t *testing.T) {
	forStores(t, func(t *testing.T, cfg chat.Config) {
		srv := chattest.Start(t, fast(cfg), nil)
		clients := []*tclient{connect(t, srv, anon("x")), connect(t, srv, anon("y"))}
		for _, c := range clients {
			c.join("bye", nil)
		}
		const n = 50
		for i := range n {
			clients[0].say("bye", fmt.Sprintf("s%d", i), "last words")
		}
		clients[0].waitType("ack")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Hub.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		acked := 1
		for f := range drain(clients[0]) {
			if f.Type == "ack" {
				acked++
			}
		}
		for i, c := range clients {
			if code := c.waitClose(); code != chat.CloseGoingAway {
				t.Errorf("client %d: close code %d, want 1001", i, code)
			}
		}
		if cfg.DatabaseURL != "" {
			if stored := countIDs(t, cfg.DatabaseURL); len(stored) < acked {
				t.Errorf("%d acked, %d stored", acked, len(stored))
			}
		}
		t.Logf("%d of %d sends acked before the close", acked, n)
	})
}

// drain yields the frames a client received until its connection ended.
func drain(c *tclient) func(func(inFrame) bool) {
	return func(yield func(inFrame) bool) {
		for {
			select {
			case f := <-c.frames:
				if !yield(f) {
					return
				}
			case <-c.done:
				for {
					select {
					case f := <-c.frames:
						if !yield(f) {
							return
						}
					default:
						return
					}
				}
			case <-time.After(waitLong):
				return
			}
		}
	}
}

func TestPingsDropSilentPeersOnly(t *testing.T) {
	srv := chattest.Start(t, chat.Config{PingInterval: 150 * time.Millisecond}, nil)
	token, _ := newSession(t, srv, anon("quiet"))
	live := connect(t, srv, anon("live")) // its reader answers pings
	c, br := rawConn(t, srv, token)       // never answers
	_ = c.SetReadDeadline(time.Now().Add(waitLong))
	buf := make([]byte, 4096)
	start := time.Now()
	for {
		if _, err := br.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("silent peer was not dropped")
			}
			break
		}
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("dropped after %v, before a ping could be missed", took)
	}
	time.Sleep(600 * time.Millisecond) // several intervals: the answering peer stays
	live.join("still", nil)
}

func TestSlowConsumerIsDisconnectedWithoutBlockingTheRoom(t *testing.T) {
	srv := chattest.Start(t, chat.Config{MessageRate: 1e6, MessageBurst: 1e6, SendQueueFrames: 64, SendQueueBytes: 1 << 20,
		WriteTimeout: 2 * time.Second}, nil)
	token, _ := newSession(t, srv, anon("slow"))
	slow, br := rawConn(t, srv, token)
	_ = slow.(*net.TCPConn).SetReadBuffer(4096)
	join := []byte(`{"type":"join","room":"flood"}`)
	mask := []byte{0x81, 0x80 | byte(len(join)), 0, 0, 0, 0}
	if _, err := slow.Write(append(mask, join...)); err != nil {
		t.Fatal(err)
	}
	fastC, sender := connect(t, srv, anon("fast")), connect(t, srv, anon("sender"))
	fastC.join("flood", nil)
	sender.join("flood", nil)
	big := strings.Repeat("무", 2000)
	const n = 1000
	for i := range n {
		cid := fmt.Sprintf("f%d", i)
		sender.say("flood", cid, big)
		for f := sender.next(); f.Type != "ack"; f = sender.next() {
		}
		for f := fastC.next(); f.Type != "message"; f = fastC.next() {
		}
	}
	// The slow reader's connection was ended: reading what is buffered reaches the end.
	_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1<<16)
	total := 0
	for {
		k, err := br.Read(buf)
		total += k
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("slow consumer still connected after reading %d bytes", total)
			}
			return
		}
	}
}

func TestMigrationsAdoptTheSeedTableAndRunOnce(t *testing.T) {
	db := pgtest.New(t)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// The stand-alone service's table, with a row, before edge ever ran.
	if _, err := conn.Exec(ctx, `CREATE TABLE messages (id BIGSERIAL PRIMARY KEY, room_id VARCHAR(255) NOT NULL,
		sender_id VARCHAR(255) NOT NULL, sender_nickname VARCHAR(255) NOT NULL, avatar VARCHAR(255),
		content TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now());
		INSERT INTO messages (room_id, sender_id, sender_nickname, avatar, content) VALUES ('old', 'u1', '옛 사용자', NULL, 'from before')`); err != nil {
		t.Fatal(err)
	}
	// Three instances start at once.
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			h, err := chat.New(chat.Config{DatabaseURL: db.URL, Secret: chattest.Secret}, nil)
			if err == nil {
				err = h.Start()
				_ = h.Shutdown(context.Background())
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var versions int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM chat_schema_migrations").Scan(&versions); err != nil || versions != 4 {
		t.Fatalf("%d migrations recorded (%v)", versions, err)
	}
	srv := chattest.Start(t, chat.Config{DatabaseURL: db.URL}, nil)
	old := history(t, srv, "old")
	if len(old) != 1 || old[0].Content != "from before" || old[0].ClientID != "" || old[0].Avatar != "" {
		t.Fatalf("old row = %+v", old)
	}
	c := connect(t, srv, anon("new"))
	c.join("old", nil)
	c.say("old", "n1", "after the migration")
	if ack := c.waitType("ack"); ack.ID <= old[0].ID {
		t.Fatalf("new id %d", ack.ID)
	}
}

func TestDatabaseURLIsNeverLogged(t *testing.T) {
	const password = "pw-Sup3rS3cret"
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	// Unreachable: Start logs the failure and carries on.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	url := "postgres://edge:" + password + "@" + addr + "/chat?sslmode=disable"
	h, err := chat.New(chat.Config{DatabaseURL: url, Secret: chattest.Secret, StartTimeout: time.Second, PollInterval: 50 * time.Millisecond}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	_ = h.Shutdown(context.Background())
	if logs.Len() == 0 {
		t.Fatal("nothing was logged about the unreachable database")
	}
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		if strings.Contains(line, password) {
			t.Fatalf("password logged: %s", line)
		}
	}
	// A malformed URL's error does not repeat it either.
	_, err = chat.New(chat.Config{DatabaseURL: "postgres://edge:" + password + "@host:notaport/db", Secret: chattest.Secret}, nil)
	if err == nil || strings.Contains(err.Error(), password) {
		t.Fatalf("error %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]chat.Config{
		"short secret": {Secret: []byte("short")},
		"bad mount":    {Secret: chattest.Secret, Mount: "chat"},
		"bad locale":   {Secret: chattest.Secret, NicknameLocale: "fr"},
		"bad origin":   {Secret: chattest.Secret, Origins: []string{"blog.example.com/path"}},
	} {
		if _, err := chat.New(cfg, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

var _ = websocket.CloseGoingAway

// wrappedListener hands out connections that are not *net.TCPConn, as a TLS listener
// or a connection-counting wrapper would: the hub then keeps fasthttp's hijack handler
// running instead of detaching the socket.
type wrappedListener struct{ net.Listener }

type wrappedConn struct{ net.Conn }

func (l wrappedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrappedConn{c}, nil
}

func TestWrappedConnections(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("KeepHijackedConns=%v", keep), func(t *testing.T) {
			srv := chattest.StartWith(t, chat.Config{PingInterval: 150 * time.Millisecond}, nil, chattest.Options{
				Listener:          func(l net.Listener) net.Listener { return wrappedListener{l} },
				KeepHijackedConns: keep,
			})
			a, b := connect(t, srv, anon("wa")), connect(t, srv, anon("wb"))
			a.join("w", nil)
			b.join("w", nil)
			a.say("w", "w1", "over a wrapped connection")
			id := a.waitType("ack").ID
			b.waitMessage(id)
			time.Sleep(500 * time.Millisecond) // pings answered; both stay
			b.say("w", "w2", "still here")
			a.waitMessage(b.waitType("ack").ID)
			b.conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := srv.Hub.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if code := a.waitClose(); code != chat.CloseGoingAway {
				t.Fatalf("close code %d", code)
			}
		})
	}
}
