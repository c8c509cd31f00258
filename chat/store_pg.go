package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync/atomic"
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

	lookupUntil atomic.Int64 // unix ns: until then every batch looks up resends (store_pg_commit.go)
	copyBuf     []byte       // the last batch's COPY rows, reused (writer goroutine only)
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
