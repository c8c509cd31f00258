package chat

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edge-server/edge/internal/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.uber.org/zap"
)

// pgxCopyRow is the oracle for appendCopyRow: the row as pgx's own encoders write it.
func pgxCopyRow(t testing.TB, m *Message) []byte {
	t.Helper()
	tm := pgtype.NewMap()
	vals := []struct {
		oid uint32
		v   any
	}{{pgtype.Int8OID, m.ID}, {pgtype.VarcharOID, m.Room}, {pgtype.VarcharOID, m.SenderID},
		{pgtype.VarcharOID, m.Nickname}, {pgtype.VarcharOID, m.Avatar}, {pgtype.TextOID, m.Content},
		{pgtype.TimestamptzOID, m.CreatedAt}, {pgtype.VarcharOID, m.ClientID}}
	b := []byte{0, byte(len(vals))}
	for _, v := range vals {
		enc, err := tm.Encode(v.oid, pgtype.BinaryFormatCode, v.v, nil)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, byte(len(enc)>>24), byte(len(enc)>>16), byte(len(enc)>>8), byte(len(enc)))
		b = append(b, enc...)
	}
	return b
}

func FuzzCopyRowMatchesPgx(f *testing.F) {
	f.Add(int64(1), "lobby", "u1", "Ann", "a01", "hello", int64(1764604800123456789), "c1")
	f.Add(int64(-1), "", "", "", "", "", int64(0), "")
	f.Add(int64(1<<62), "방", "ü", "\u00e9\u0301", "a99", "line\nbreak\ttab \U0001F600", int64(-62135596800000000), "k")
	f.Fuzz(func(t *testing.T, id int64, room, sender, nick, avatar, content string, ns int64, client string) {
		m := Message{ID: id, Room: room, SenderID: sender, Nickname: nick, Avatar: avatar, Content: content,
			CreatedAt: time.Unix(0, ns).UTC(), ClientID: client}
		got, want := appendCopyRow(nil, &m), pgxCopyRow(t, &m)
		if string(got) != string(want) {
			t.Fatalf("row %+v:\n got %x\nwant %x", m, got, want)
		}
	})
}

func newTestPGStore(t *testing.T, url string) *pgStore {
	t.Helper()
	st, err := newPGStore(url, 4, dbLimits{statement: 5 * time.Second, idleInTx: 5 * time.Second, deadPeer: 5 * time.Second},
		"test", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.close)
	if err := st.open(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

func testMsg(room, sender, client, content string) Message {
	return Message{Room: room, SenderID: sender, Nickname: "n-" + sender, Avatar: "a01", Content: content,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond), ClientID: client}
}

// storedRows reads the table back in id order.
func storedRows(t *testing.T, st *pgStore) []Message {
	t.Helper()
	ms, err := st.since(t.Context(), 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// A batch that resends stored messages among new ones, first without the lookup (the
// unique key refuses it, the retry looks up), then within the lookup window: every
// resend gets its original, every new message one new row, and the table holds exactly
// what the results say, row for row.
func TestCommitResendsAmongNewMessages(t *testing.T) {
	st := newTestPGStore(t, pgtest.New(t).URL)
	ctx := t.Context()
	first := []Message{testMsg("r1", "u1", "c1", "one"), testMsg("r2", "u2", "c1", "two"), testMsg("r1", "u1", "c2", "three")}
	_, res1, err := st.commit(ctx, 0, first)
	if err != nil {
		t.Fatal(err)
	}
	if st.lookupUntil.Load() != 0 {
		t.Fatal("a batch without resends switched the lookup on")
	}
	for round := range 2 { // 0: optimistic attempt refused, retried; 1: inside the window
		batch := []Message{
			testMsg("r1", "u3", fmt.Sprint("new-a", round), "new a"),
			testMsg("r2", "u2", "c1", "resent two, other text"), // resend of first[1]
			testMsg("r1", "u3", fmt.Sprint("new-b", round), "new b"),
			testMsg("r1", "u1", "c2", "resent three"), // resend of first[2]
		}
		_, res, err := st.commit(ctx, 0, batch)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if st.lookupUntil.Load() <= time.Now().UnixNano() {
			t.Fatalf("round %d: a refused batch did not switch the lookup on", round)
		}
		for i, want := range []struct {
			dup bool
			id  int64
		}{{false, 0}, {true, res1[1].msg.ID}, {false, 0}, {true, res1[2].msg.ID}} {
			if res[i].dup != want.dup || (want.dup && res[i].msg.ID != want.id) {
				t.Fatalf("round %d, message %d: %+v", round, i, res[i])
			}
		}
		if res[1].msg.Content != "two" || res[3].msg.Content != "three" {
			t.Fatalf("round %d: resends were not answered with the originals: %+v, %+v", round, res[1].msg, res[3].msg)
		}
		if !(res[0].msg.ID > res1[2].msg.ID && res[2].msg.ID == res[0].msg.ID+1) {
			t.Fatalf("round %d: new ids %d, %d after %d", round, res[0].msg.ID, res[2].msg.ID, res1[2].msg.ID)
		}
	}
	rows := storedRows(t, st)
	if len(rows) != 7 {
		t.Fatalf("%d rows stored, want 3 + 2 × 2: %+v", len(rows), rows)
	}
	seen := map[idemKey]int64{}
	for _, r := range rows {
		k := idemKey{r.SenderID, r.ClientID}
		if _, dup := seen[k]; dup {
			t.Fatalf("(%s, %s) stored twice", r.SenderID, r.ClientID)
		}
		seen[k] = r.ID
	}
}

// The rows a commit reports are the rows in the table: same ids, same content, same
// time to the microsecond, ids consecutive in batch order and above everything before.
func TestCommitStoresWhatItReports(t *testing.T) {
	st := newTestPGStore(t, pgtest.New(t).URL)
	var reported []Message
	for b := range 5 {
		batch := make([]Message, 0, 300)
		for i := range 300 {
			m := testMsg(fmt.Sprintf("room%d", i%7), fmt.Sprintf("u%d", i%13), fmt.Sprintf("b%d-%d", b, i),
				fmt.Sprintf("content %d/%d ü 😀 \"q\" \\", b, i))
			m.CreatedAt = time.Unix(1764604800, int64(i*1777)).UTC() // sub-microsecond digits are dropped
			batch = append(batch, m)
		}
		_, res, err := st.commit(t.Context(), 0, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.dup || (i > 0 && r.msg.ID != reported[len(reported)-1].ID+1) {
				t.Fatalf("batch %d message %d: %+v", b, i, r)
			}
			reported = append(reported, r.msg)
		}
	}
	rows := storedRows(t, st)
	if len(rows) != len(reported) {
		t.Fatalf("%d rows, %d reported", len(rows), len(reported))
	}
	for i, r := range rows {
		w := reported[i]
		w.CreatedAt = w.CreatedAt.Truncate(time.Microsecond)
		if r.ID != w.ID || r.Room != w.Room || r.SenderID != w.SenderID || r.Nickname != w.Nickname ||
			r.Avatar != w.Avatar || r.Content != w.Content || !r.CreatedAt.Equal(w.CreatedAt) || r.ClientID != w.ClientID {
			t.Fatalf("row %d:\n got %+v\nwant %+v", i, r, w)
		}
	}
}

// Rows inserted by hand (taking ids from the sequence, not the writer lock) while the
// writer commits: nobody's id is taken twice, every reported row is stored as reported,
// and a batch that collided with a hand insert is retried, not acked wrongly.
func TestCommitAlongsideForeignInserts(t *testing.T) {
	db := pgtest.New(t)
	st := newTestPGStore(t, db.URL)
	conn, err := pgx.Connect(t.Context(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var foreign []int64
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var id int64
			if err := conn.QueryRow(context.Background(), `INSERT INTO messages (room_id, sender_id, sender_nickname, content, client_id)
				VALUES ('hand', 'hand', 'hand', 'by hand', $1) RETURNING id`, fmt.Sprint("h", i)).Scan(&id); err != nil {
				t.Error(err)
				return
			}
			foreign = append(foreign, id)
		}
	})
	reported := map[int64]Message{}
	failed := 0
	for b := range 40 {
		batch := make([]Message, 50)
		for i := range batch {
			batch[i] = testMsg("r", fmt.Sprint("u", i), fmt.Sprintf("f%d-%d", b, i), fmt.Sprint("m", b, "-", i))
		}
		_, res, err := st.commit(t.Context(), 0, batch)
		if err != nil {
			failed++ // a collision inside the lookup window fails the batch; it is not acked
			continue
		}
		for _, r := range res {
			if _, twice := reported[r.msg.ID]; twice {
				t.Fatalf("id %d reported twice", r.msg.ID)
			}
			reported[r.msg.ID] = r.msg
		}
	}
	close(stop)
	wg.Wait()
	rows := storedRows(t, st)
	byID := map[int64]Message{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	if len(byID) != len(reported)+len(foreign) {
		t.Fatalf("%d rows; %d reported by the writer + %d by hand", len(byID), len(reported), len(foreign))
	}
	for id, w := range reported {
		if r := byID[id]; r.Content != w.Content || r.ClientID != w.ClientID {
			t.Fatalf("id %d: stored %+v, reported %+v", id, r, w)
		}
	}
	t.Logf("%d batches committed, %d failed, %d hand inserts", 40-failed, failed, len(foreign))
}
