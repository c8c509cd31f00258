package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
)

// pgStore keeps messages in Postgres. The connection string is never logged.
type pgStore struct {
	pool     *pgxpool.Pool
	connCfg  *pgx.ConnConfig // for the migration and LISTEN connections
	instance string
	log      *zap.Logger
}

const notifyChannel = "edge_chat"

func newPGStore(url string, poolSize int, limits dbLimits, instance string, log *zap.Logger) (*pgStore, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgconn redacts the password in parse errors; say no more than that it failed.
		return nil, errors.New("chat database_url is not a valid Postgres connection string")
	}
	pcfg.MaxConns = int32(poolSize)
	pcfg.MinConns = 0
	pcfg.HealthCheckPeriod = 5 * time.Second
	pcfg.ConnConfig.ConnectTimeout = 3 * time.Second
	pcfg.ConnConfig.RuntimeParams["application_name"] = "edge-chat"
	limits.connect = pcfg.ConnConfig.ConnectTimeout
	// The migration and LISTEN connections get the socket bounds only.
	plain := pcfg.ConnConfig.Copy()
	limits.apply(&plain.Config, false)
	limits.apply(&pcfg.ConnConfig.Config, true)
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		return nil, fmt.Errorf("creating the chat database pool: %w", err)
	}
	return &pgStore{pool: pool, connCfg: plain, instance: instance, log: log}, nil
}

func (s *pgStore) close() { s.pool.Close() }

// isConnErr reports whether err means "the database cannot be reached right now".
func isConnErr(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return false
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.SafeToRetry(err), pgconn.Timeout(err),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &pe):
		// 08: connection exception; 57P: operator intervention (shutdown, starting up).
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	return false
}

func (s *pgStore) open(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, s.connCfg.Copy())
	if err != nil {
		return &unavailableError{err: err}
	}
	defer conn.Close(context.Background())
	if err := migrate(ctx, conn, s.log); err != nil {
		if isConnErr(err) {
			return &unavailableError{err: err}
		}
		return err
	}
	return nil
}

func (s *pgStore) maxID(ctx context.Context) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM messages").Scan(&id)
	return id, err
}

// msgColumns serve a deleted message as a placeholder: its row and id, no content.
const msgColumns = `id, room_id, sender_id, sender_nickname, coalesce(avatar, ''),
	CASE WHEN deleted_at IS NULL THEN content ELSE '' END, created_at, coalesce(client_id, ''), deleted_at IS NOT NULL`

func scanMessages(rows pgx.Rows) ([]Message, error) {
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		if err := rows.Scan(&m.ID, &m.Room, &m.SenderID, &m.Nickname, &m.Avatar, &m.Content, &m.CreatedAt, &m.ClientID, &m.Deleted); err != nil {
			return nil, err
		}
		m.CreatedAt = m.CreatedAt.UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *pgStore) commit(ctx context.Context, cursor int64, batch []Message) ([]Message, []commitResult, error) {
	n := len(batch)
	senders, clients := make([]string, n), make([]string, n)
	roomSet := map[string]struct{}{}
	var roomList strings.Builder
	for i, m := range batch {
		senders[i], clients[i] = m.SenderID, m.ClientID
		if _, ok := roomSet[m.Room]; !ok && roomList.Len() < 7000 {
			roomSet[m.Room] = struct{}{}
			if roomList.Len() > 0 {
				roomList.WriteByte(',')
			}
			roomList.WriteString(m.Room)
		}
	}
	// Three round trips per batch: (1) BEGIN, take the writer lock (ids then follow
	// commit order across instances, and nobody else inserts until we commit), read what
	// others committed since our cursor, find resends, reserve ids for the rest; (2) COPY
	// the rows; (3) NOTIFY and COMMIT. The transaction is driven by hand on one pooled
	// connection (pgx.Tx would add a round trip for BEGIN and one for the NOTIFY); a
	// connection left in an unknown state is closed, not returned to the pool.
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
	b.Queue("SELECT "+msgColumns+` FROM messages m
		JOIN unnest($1::text[], $2::text[]) AS u(s, k) ON m.sender_id = u.s AND m.client_id = u.k`, senders, clients)
	b.Queue("SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, $1)", n)
	br := tx.SendBatch(ctx, b)
	remote, originals, ids, err := readCommitBatch(br)
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
	rows := make([][]any, 0, n)
	next := 0
	for i, m := range batch {
		if o, ok := byKey[idemKey{m.SenderID, m.ClientID}]; ok {
			res[i] = commitResult{msg: o, dup: true}
			continue
		}
		m.ID = ids[next]
		next++
		res[i] = commitResult{msg: m}
		rows = append(rows, []any{m.ID, m.Room, m.SenderID, m.Nickname, m.Avatar, m.Content, m.CreatedAt, m.ClientID})
	}
	if len(rows) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"messages"}, copyColumns, pgx.CopyFromRows(rows)); err != nil {
			return nil, nil, err
		}
	}
	end := &pgx.Batch{}
	if len(rows) > 0 {
		end.Queue("SELECT pg_notify($1, $2)", notifyChannel,
			s.instance+" "+strconv.FormatInt(ids[next-1], 10)+" "+roomList.String())
	}
	end.Queue("COMMIT")
	if err := finishCommit(tx.SendBatch(ctx, end), len(rows) > 0); err != nil {
		return nil, nil, err
	}
	committed = true
	return remote, res, nil
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

var copyColumns = []string{"id", "room_id", "sender_id", "sender_nickname", "avatar", "content", "created_at", "client_id"}

func readCommitBatch(br pgx.BatchResults) (remote, originals []Message, ids []int64, err error) {
	for range 2 { // BEGIN, the lock
		if _, err = br.Exec(); err != nil {
			return
		}
	}
	for _, dst := range []*[]Message{&remote, &originals} {
		rows, qerr := br.Query()
		if qerr != nil {
			return nil, nil, nil, qerr
		}
		if *dst, err = scanMessages(rows); err != nil {
			return
		}
	}
	rows, err := br.Query()
	if err != nil {
		return
	}
	ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	return
}

func reverse(ms []Message) []Message {
	for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
		ms[i], ms[j] = ms[j], ms[i]
	}
	return ms
}

func (s *pgStore) latest(ctx context.Context, room string, after int64, limit int) ([]Message, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+msgColumns+
		" FROM messages WHERE room_id = $1 AND id > $2 ORDER BY id DESC LIMIT $3", room, after, limit)
	if err != nil {
		return nil, err
	}
	ms, err := scanMessages(rows)
	return reverse(ms), err
}

func (s *pgStore) before(ctx context.Context, room string, before int64, limit int) ([]Message, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.pool.Query(ctx, "SELECT "+msgColumns+
		" FROM messages WHERE room_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3", room, before, limit)
	if err != nil {
		return nil, err
	}
	ms, err := scanMessages(rows)
	return reverse(ms), err
}

func (s *pgStore) since(ctx context.Context, cursor int64, limit int) ([]Message, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+msgColumns+" FROM messages WHERE id > $1 ORDER BY id LIMIT $2", cursor, limit)
	if err != nil {
		return nil, err
	}
	return scanMessages(rows)
}
