package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
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

func newPGStore(url string, poolSize int, instance string, log *zap.Logger) (*pgStore, error) {
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
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		return nil, fmt.Errorf("creating the chat database pool: %w", err)
	}
	return &pgStore{pool: pool, connCfg: pcfg.ConnConfig.Copy(), instance: instance, log: log}, nil
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

const msgColumns = `id, room_id, sender_id, sender_nickname, coalesce(avatar, ''), content, created_at, coalesce(client_id, '')`

const insertSQL = `INSERT INTO messages (room_id, sender_id, sender_nickname, avatar, content, created_at, client_id)
SELECT r, s, n, a, c, t, k
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[])
     WITH ORDINALITY AS u(r, s, n, a, c, t, k, o)
ORDER BY o
ON CONFLICT (sender_id, client_id) DO NOTHING
RETURNING id, sender_id, client_id`

func scanMessages(rows pgx.Rows) ([]Message, error) {
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		if err := rows.Scan(&m.ID, &m.Room, &m.SenderID, &m.Nickname, &m.Avatar, &m.Content, &m.CreatedAt, &m.ClientID); err != nil {
			return nil, err
		}
		m.CreatedAt = m.CreatedAt.UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *pgStore) commit(ctx context.Context, cursor int64, batch []Message) ([]Message, []commitResult, error) {
	n := len(batch)
	rooms, senders, nicks, avatars := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	contents, clients, times := make([]string, n), make([]string, n), make([]time.Time, n)
	roomSet := map[string]struct{}{}
	var roomList strings.Builder
	for i, m := range batch {
		rooms[i], senders[i], nicks[i], avatars[i] = m.Room, m.SenderID, m.Nickname, m.Avatar
		contents[i], clients[i], times[i] = m.Content, m.ClientID, m.CreatedAt
		if _, ok := roomSet[m.Room]; !ok && roomList.Len() < 7000 {
			roomSet[m.Room] = struct{}{}
			if roomList.Len() > 0 {
				roomList.WriteByte(',')
			}
			roomList.WriteString(m.Room)
		}
	}
	// One pipeline, one implicit transaction: take the writer lock (so ids follow commit
	// order across instances), read what others committed since our cursor, insert,
	// notify. The acks go out only after this has committed.
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock($1)", writerLockKey)
	b.Queue("SELECT "+msgColumns+" FROM messages WHERE id > $1 ORDER BY id", cursor)
	b.Queue(insertSQL, rooms, senders, nicks, avatars, contents, times, clients)
	b.Queue("SELECT pg_notify($1, $2 || (SELECT coalesce(max(id), 0) FROM messages)::text || $3)",
		notifyChannel, s.instance+" ", " "+roomList.String())
	br := s.pool.SendBatch(ctx, b)
	remote, inserted, err := readCommitBatch(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	res := make([]commitResult, n)
	var missing []int
	for i, m := range batch {
		if id, ok := inserted[idemKey{m.SenderID, m.ClientID}]; ok {
			m.ID = id
			res[i] = commitResult{msg: m}
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		if err := s.originals(ctx, batch, missing, res); err != nil {
			// The batch committed, but the originals of the resends could not be read;
			// report the whole batch as unavailable: every item is idempotent.
			return nil, nil, err
		}
	}
	return remote, res, nil
}

func readCommitBatch(br pgx.BatchResults) ([]Message, map[idemKey]int64, error) {
	if _, err := br.Exec(); err != nil {
		return nil, nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, nil, err
	}
	remote, err := scanMessages(rows)
	if err != nil {
		return nil, nil, err
	}
	rows, err = br.Query()
	if err != nil {
		return nil, nil, err
	}
	inserted := map[idemKey]int64{}
	for rows.Next() {
		var id int64
		var k idemKey
		if err := rows.Scan(&id, &k.sender, &k.client); err != nil {
			rows.Close()
			return nil, nil, err
		}
		inserted[k] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if _, err := br.Exec(); err != nil {
		return nil, nil, err
	}
	return remote, inserted, nil
}

// originals fills res[i] for resent (sender, client id) pairs with the stored message.
func (s *pgStore) originals(ctx context.Context, batch []Message, idx []int, res []commitResult) error {
	senders, clients := make([]string, len(idx)), make([]string, len(idx))
	for j, i := range idx {
		senders[j], clients[j] = batch[i].SenderID, batch[i].ClientID
	}
	rows, err := s.pool.Query(ctx, "SELECT "+msgColumns+` FROM messages m
		JOIN unnest($1::text[], $2::text[]) AS u(s, k) ON m.sender_id = u.s AND m.client_id = u.k`, senders, clients)
	if err != nil {
		return err
	}
	found, err := scanMessages(rows)
	if err != nil {
		return err
	}
	byKey := make(map[idemKey]Message, len(found))
	for _, m := range found {
		byKey[idemKey{m.SenderID, m.ClientID}] = m
	}
	for _, i := range idx {
		m, ok := byKey[idemKey{batch[i].SenderID, batch[i].ClientID}]
		if !ok {
			return fmt.Errorf("message %s/%s neither inserted nor found", batch[i].SenderID, batch[i].ClientID)
		}
		res[i] = commitResult{msg: m, dup: true}
	}
	return nil
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
