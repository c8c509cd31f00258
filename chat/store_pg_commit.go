package chat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
)

// resendLookupWindow is how long, after a batch ran into a stored (sender, client id),
// every batch looks resends up before inserting. Outside it a batch is inserted without
// the lookup: a resend of a stored message is rare (its ack was lost), and the unique
// key catches it anyway.
const resendLookupWindow = 10 * time.Second

// commit stores batch in one transaction. Most batches contain no resend of a stored
// message, so the first attempt skips the resend lookup (a quarter of PostgreSQL's work
// per message, docs/benchmarks.md) and lets the unique key on (sender_id, client_id)
// refuse the batch if it does contain one. That attempt is then rolled back as a whole,
// and the batch is committed again with the lookup, which is used for every batch of
// the next resendLookupWindow: a client that keeps resending costs at most one wasted
// attempt per window, never an ack for a row that is not there or a second row.
func (s *pgStore) commit(ctx context.Context, cursor int64, batch []Message) ([]Message, []commitResult, error) {
	lookup := time.Now().UnixNano() < s.lookupUntil.Load()
	remote, res, err := s.commitOnce(ctx, cursor, batch, lookup)
	if lookup || !isUniqueViolation(err) {
		return remote, res, err
	}
	s.lookupUntil.Store(time.Now().Add(resendLookupWindow).UnixNano())
	s.log.Debug("a batch held a resend of a stored message; looking resends up", zap.Duration("for", resendLookupWindow), zap.Error(err))
	return s.commitOnce(ctx, cursor, batch, true)
}

// isUniqueViolation: the batch holds a (sender, client id) that is stored already (or an
// id someone else took from the sequence; a retry reserves new ones).
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// commitOnce is one transaction, in three round trips: (1) BEGIN, take the writer lock
// (ids then follow commit order across instances, and nobody else inserts until we
// commit), read what others committed since our cursor, find resends (when lookup),
// reserve ids for the batch; (2) COPY the rows; (3) NOTIFY and COMMIT. The transaction
// is driven by hand on one pooled connection (pgx.Tx would add a round trip for BEGIN
// and one for the NOTIFY); a connection left in an unknown state is closed, not returned
// to the pool.
func (s *pgStore) commitOnce(ctx context.Context, cursor int64, batch []Message, lookup bool) ([]Message, []commitResult, error) {
	n := len(batch)
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	committed := false
	defer func() {
		if !committed {
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if _, rerr := pc.Exec(rctx, "ROLLBACK"); rerr != nil {
				_ = pc.Conn().Close(rctx)
			}
			cancel()
		}
		pc.Release()
	}()
	tx := pc.Conn()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SELECT pg_advisory_xact_lock($1)", writerLockKey)
	b.Queue("SELECT "+msgColumns+" FROM messages WHERE id > $1 ORDER BY id", cursor)
	if lookup {
		senders, clients := make([]string, n), make([]string, n)
		for i, m := range batch {
			senders[i], clients[i] = m.SenderID, m.ClientID
		}
		b.Queue("SELECT "+msgColumns+` FROM messages m
			JOIN unnest($1::text[], $2::text[]) AS u(s, k) ON m.sender_id = u.s AND m.client_id = u.k`, senders, clients)
	}
	// n ids in one call instead of n nextval calls (those cost PostgreSQL more than the
	// lookup). Safe because every edge takes the writer lock above first; an inserter
	// that does not (a row added by hand) could take one of these ids in between, which
	// the primary key refuses and the retry in commit repairs.
	b.Queue(`SELECT setval(q.seq, nextval(q.seq) + $1 - 1)
		FROM (SELECT pg_get_serial_sequence('messages', 'id')::regclass AS seq) AS q`, int64(n))
	br := tx.SendBatch(ctx, b)
	remote, originals, last, err := readCommitBatch(br, lookup)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	byKey := make(map[idemKey]Message, len(originals))
	for _, m := range originals {
		byKey[idemKey{m.SenderID, m.ClientID}] = m
	}
	res := make([]commitResult, n)
	rows := s.copyBuf[:0]
	rows = appendCopyHeader(rows)
	next, stored := last-int64(n)+1, 0
	for i, m := range batch {
		if o, ok := byKey[idemKey{m.SenderID, m.ClientID}]; ok {
			res[i] = commitResult{msg: o, dup: true}
			continue
		}
		m.ID = next
		next++
		stored++
		res[i] = commitResult{msg: m}
		rows = appendCopyRow(rows, &m)
	}
	rows = appendCopyTrailer(rows)
	// The buffer is kept for the next batch only once CopyFrom has returned without an
	// error. pgconn reads it on a goroutine of its own, and when the connection fails
	// (a reset seen by its reader, a fatal server error) CopyFrom returns without
	// waiting for that goroutine, which may still be reading rows while the next
	// batch would already be writing into them.
	s.copyBuf = nil
	if stored > 0 {
		if _, err := tx.PgConn().CopyFrom(ctx, bytes.NewReader(rows), copyStatement); err != nil {
			return nil, nil, err
		}
	}
	if cap(rows) <= maxKeptCopyBuf {
		s.copyBuf = rows[:0]
	}
	end := &pgx.Batch{}
	if stored > 0 {
		end.Queue("SELECT pg_notify($1, $2)", notifyChannel,
			s.instance+" "+strconv.FormatInt(next-1, 10)+" "+roomList(batch))
	}
	end.Queue("COMMIT")
	if err := finishCommit(tx.SendBatch(ctx, end), stored > 0); err != nil {
		return nil, nil, err
	}
	committed = true
	return remote, res, nil
}

// roomList is the end of the NOTIFY payload: the batch's rooms, comma-separated, cut
// after 7,000 bytes (a payload must stay under 8,000). Instances read only the id before
// it; the list is for whoever else LISTENs.
func roomList(batch []Message) string {
	seen := make(map[string]struct{}, 64)
	var b strings.Builder
	for _, m := range batch {
		if _, ok := seen[m.Room]; ok || b.Len() >= 7000 {
			continue
		}
		seen[m.Room] = struct{}{}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(m.Room)
	}
	return b.String()
}

// finishCommit reads the results of [NOTIFY,] COMMIT. A COMMIT of an aborted
// transaction answers "ROLLBACK" without an error: that is a failure too.
func finishCommit(br pgx.BatchResults, notified bool) error {
	if notified {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return err
		}
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && tag.String() != "COMMIT" {
		err = fmt.Errorf("the transaction was rolled back (%s)", tag.String())
	}
	return err
}

// readCommitBatch reads the first round trip's results: what others committed, the
// stored originals of resends (when lookup), and the last id reserved.
func readCommitBatch(br pgx.BatchResults, lookup bool) (remote, originals []Message, last int64, err error) {
	for range 2 { // BEGIN, the lock
		if _, err = br.Exec(); err != nil {
			return
		}
	}
	dsts := []*[]Message{&remote}
	if lookup {
		dsts = append(dsts, &originals)
	}
	for _, dst := range dsts {
		rows, qerr := br.Query()
		if qerr != nil {
			return nil, nil, 0, qerr
		}
		if *dst, err = scanMessages(rows); err != nil {
			return
		}
	}
	err = br.QueryRow().Scan(&last)
	return
}
