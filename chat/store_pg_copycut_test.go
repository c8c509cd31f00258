package chat

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/edge-server/edge/internal/pgtest"
	"github.com/jackc/pgx/v5/pgconn"
)

// copyCutProxy forwards to Postgres. Armed, it lets a commit's first round trip
// (BEGIN, the writer lock, ...) through and appends to its answer the FATAL error a
// Postgres shutdown sends ("terminating connection due to administrator command"), then
// closes the Postgres side. The error is already buffered when the commit starts its
// COPY, so pgconn's CopyFrom returns it at once, without waiting for its copy goroutine,
// which reads the rows only after that.
type copyCutProxy struct {
	ln    net.Listener
	armed atomic.Bool
	cuts  atomic.Int32
}

// fatalShutdown is an ErrorResponse: severity FATAL, SQLSTATE 57P01.
var fatalShutdown = func() []byte {
	body := []byte("SFATAL\x00VFATAL\x00C57P01\x00Mterminating connection due to administrator command\x00\x00")
	n := len(body) + 4
	return append([]byte{'E', byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}()

func startCopyCutProxy(t *testing.T, target string) *copyCutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &copyCutProxy{ln: ln}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			cut := make(chan struct{}, 1)
			go p.fromClient(c, s, cut)
			go p.fromServer(s, c, cut)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return p
}

// fromClient forwards the client's bytes and, armed, marks a commit's first round trip.
func (p *copyCutProxy) fromClient(c, s net.Conn, cut chan<- struct{}) {
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		// The store does nothing else in the test, so after arming the first bytes that
		// begin with a Bind are the round trip. (Its SQL text cannot be matched: pgx
		// prepares it once per connection, in a round trip of its own.)
		if n > 0 && buf[0] == 'B' && p.armed.CompareAndSwap(true, false) {
			cut <- struct{}{}
		}
		if n > 0 {
			if _, werr := s.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = s.Close()
			return
		}
	}
}

// fromServer forwards Postgres's bytes; after a marked round trip's answer it sends the
// FATAL error and ends the session (Postgres rolls the transaction back). The client
// side stays open until the cleanup: the error must not race a FIN.
func (p *copyCutProxy) fromServer(s, c net.Conn, cut <-chan struct{}) {
	buf := make([]byte, 64<<10)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
			select {
			case <-cut:
				p.cuts.Add(1)
				_, _ = c.Write(fatalShutdown)
				_ = s.Close()
				return
			default:
			}
		}
		if err != nil {
			return
		}
	}
}

// Postgres ends the session while a batch's rows are being copied (CI's random fault
// schedule hit this with a pg-down during a COPY): the commit fails, and the next batch,
// on a new connection, must not reuse the buffer pgconn's copy goroutine still holds.
// Under -race that reuse is a reported race (the goroutine read the rows, and nothing
// orders that read before the next batch's writes). The table holds exactly the batches
// reported committed.
func TestCommitAfterCopyCut(t *testing.T) {
	db := pgtest.New(t)
	p := startCopyCutProxy(t, db.Addr())
	st := newTestPGStore(t, db.URLVia(p.ln.Addr().String()))
	var committed int
	var cursor int64
	for round := range 10 {
		batch := make([]Message, 0, 300)
		for i := range 300 {
			batch = append(batch, testMsg("lobby", "u", fmt.Sprintf("r%d-%d", round, i), fmt.Sprintf("message %d of round %d", i, round)))
		}
		p.armed.Store(round%2 == 0)
		_, res, err := st.commit(t.Context(), cursor, batch)
		if round%2 == 0 {
			if !isFatalShutdown(err) {
				t.Fatalf("round %d: a commit whose session ended before its COPY: %v, want the FATAL 57P01", round, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("round %d: commit after a cut: %v", round, err)
		}
		committed += len(res)
		cursor = res[len(res)-1].msg.ID
	}
	if p.cuts.Load() != 5 {
		t.Fatalf("%d copies cut, want 5", p.cuts.Load())
	}
	if rows := storedRows(t, st); len(rows) != committed {
		t.Fatalf("%d rows stored, %d reported committed", len(rows), committed)
	}
}

func isFatalShutdown(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "57P01"
}
