package edgetls

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/edge-server/edge/internal/pgschema"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
)

// PostgresStorage is a certmagic.Storage (with Locker and TryLocker) on Postgres, for
// a fleet of edge instances sharing one database: accounts, keys, certificates and the
// challenge tokens of certmagic's distributed solvers are rows, so a name is ordered
// once for the fleet and any instance can answer a challenge another one started.
//
// Locks are leases, not session advisory locks: a row holding (name, token,
// expires_at), taken only when absent or expired by the database's clock, and renewed
// by the holder every LockTTL/4. A holder that dies, freezes (SIGSTOP, a paused VM) or
// is cut off without a FIN stops renewing and loses the lock within LockTTL. A session
// advisory lock would instead last as long as Postgres believes the holder's
// connection is alive: with no FIN that is until TCP keepalive gives up (hours by
// default), and a frozen process whose kernel still answers keepalives holds it
// forever.
type PostgresStorage struct {
	pool *pgxpool.Pool
	log  *zap.Logger
	ttl  time.Duration
	poll time.Duration
	op   time.Duration
	who  string

	ready atomic.Bool // the tables exist (checked once per process)

	mu   sync.Mutex
	held map[string]*lease // locks this process holds, by name
}

// PostgresStorageConfig configures NewPostgresStorage.
type PostgresStorageConfig struct {
	// Pool is the fleet database. Required; the storage never closes it.
	Pool *pgxpool.Pool
	// Holder names this instance in lock rows (for operators reading the table).
	// Default "edge".
	Holder string
	// LockTTL is how long a lock outlives its holder's last renewal: the bound on how
	// long a dead or frozen holder blocks the fleet. Default 20s; minimum 1s.
	LockTTL time.Duration
	// LockPoll is how often a waiting Lock retries. Default 250ms.
	LockPoll time.Duration
	// OpTimeout bounds every single statement, so a database that stops answering
	// (no FIN) fails an operation instead of hanging it. Default 10s.
	OpTimeout time.Duration
}

// Defaults of PostgresStorageConfig.
const (
	DefaultLockTTL   = 20 * time.Second
	DefaultLockPoll  = 250 * time.Millisecond
	DefaultOpTimeout = 10 * time.Second
)

var certSchema = pgschema.Schema{Component: "tls", Steps: []string{`
CREATE TABLE edge_cert_storage (
	key      TEXT COLLATE "C" PRIMARY KEY,
	value    BYTEA NOT NULL,
	modified TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE edge_cert_locks (
	name       TEXT PRIMARY KEY,
	token      TEXT NOT NULL,
	holder     TEXT NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);`}}

// NewPostgresStorage creates the tables if needed (safe when several instances start
// at once) and returns the storage. When the database cannot be reached it logs that
// and still returns the storage, which creates the tables on its first successful
// operation: certificates already in memory keep being served meanwhile.
func NewPostgresStorage(ctx context.Context, cfg PostgresStorageConfig, log *zap.Logger) (*PostgresStorage, error) {
	if cfg.Pool == nil {
		return nil, configErrorf("Storage", "the Postgres certificate storage needs a database pool")
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &PostgresStorage{
		pool: cfg.Pool,
		log:  log.Named("tls.storage"),
		ttl:  cfg.LockTTL,
		poll: cfg.LockPoll,
		op:   cfg.OpTimeout,
		who:  cfg.Holder,
		held: make(map[string]*lease),
	}
	if s.ttl == 0 {
		s.ttl = DefaultLockTTL
	}
	if s.ttl < time.Second {
		return nil, configErrorf("LockTTL", "%v is below the 1s minimum", cfg.LockTTL)
	}
	if s.poll <= 0 {
		s.poll = DefaultLockPoll
	}
	if s.op <= 0 {
		s.op = DefaultOpTimeout
	}
	if s.who == "" {
		s.who = "edge"
	}
	if err := s.ensure(ctx); err != nil {
		s.log.Error("certificate storage database unreachable; retrying with every operation", zap.Error(err))
	}
	return s, nil
}

// ensure creates the tables once per process.
func (s *PostgresStorage) ensure(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	mctx, cancel := context.WithTimeout(ctx, 3*s.op)
	defer cancel()
	if err := pgschema.Apply(mctx, s.pool, certSchema); err != nil {
		return fmt.Errorf("preparing the certificate tables: %w", err)
	}
	s.ready.Store(true)
	return nil
}

// String is what Manager logs as the storage location.
func (s *PostgresStorage) String() string { return "postgres" }

// opCtx bounds one operation; the tables are created first if that has not happened
// yet (an error then surfaces from the operation's own statement).
func (s *PostgresStorage) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	_ = s.ensure(ctx)
	return context.WithTimeout(ctx, s.op)
}

// normKey trims the slashes certmagic's key rules forbid at either end.
func normKey(key string) string { return strings.Trim(key, "/") }

// Store implements certmagic.Storage.
func (s *PostgresStorage) Store(ctx context.Context, key string, value []byte) error {
	key = normKey(key)
	if key == "" {
		return errors.New("storing a certificate record: empty key")
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO edge_cert_storage (key, value, modified) VALUES ($1, $2, now())
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, modified = now()`, key, value)
	if err != nil {
		return fmt.Errorf("storing %s in Postgres: %w", key, err)
	}
	return nil
}

// Load implements certmagic.Storage; a missing key is fs.ErrNotExist.
func (s *PostgresStorage) Load(ctx context.Context, key string) ([]byte, error) {
	key = normKey(key)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var v []byte
	err := s.pool.QueryRow(ctx, "SELECT value FROM edge_cert_storage WHERE key = $1", key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("loading %s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("loading %s from Postgres: %w", key, err)
	}
	return v, nil
}

// Delete implements certmagic.Storage: the key and everything under it as a
// directory; a missing key is not an error.
func (s *PostgresStorage) Delete(ctx context.Context, key string) error {
	key = normKey(key)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var err error
	if key == "" {
		_, err = s.pool.Exec(ctx, "DELETE FROM edge_cert_storage")
	} else {
		_, err = s.pool.Exec(ctx, "DELETE FROM edge_cert_storage WHERE key = $1 OR starts_with(key, $2)", key, key+"/")
	}
	if err != nil {
		return fmt.Errorf("deleting %s from Postgres: %w", key, err)
	}
	return nil
}

// Exists implements certmagic.Storage: a file or a directory (a prefix of files).
func (s *PostgresStorage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// Stat implements certmagic.Storage.
func (s *PostgresStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	key = normKey(key)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var (
		size     int64
		modified time.Time
	)
	err := s.pool.QueryRow(ctx, "SELECT length(value), modified FROM edge_cert_storage WHERE key = $1", key).Scan(&size, &modified)
	if err == nil {
		return certmagic.KeyInfo{Key: key, Modified: modified, Size: size, IsTerminal: true}, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return certmagic.KeyInfo{}, fmt.Errorf("looking up %s in Postgres: %w", key, err)
	}
	// A directory: its modification time is its newest file's.
	var newest *time.Time
	if err := s.pool.QueryRow(ctx, "SELECT max(modified) FROM edge_cert_storage WHERE starts_with(key, $1)", dirPrefix(key)).Scan(&newest); err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("looking up %s in Postgres: %w", key, err)
	}
	if newest == nil {
		return certmagic.KeyInfo{}, fmt.Errorf("looking up %s: %w", key, fs.ErrNotExist)
	}
	return certmagic.KeyInfo{Key: key, Modified: *newest, IsTerminal: false}, nil
}

// dirPrefix is what every key under directory key starts with ("" for the root).
func dirPrefix(key string) string {
	if key == "" {
		return ""
	}
	return key + "/"
}

// List implements certmagic.Storage like FileStorage does: the entries (files and
// directories) directly under prefix, or with recursive every file and directory
// below it. A prefix that does not exist is fs.ErrNotExist; a file has no entries.
func (s *PostgresStorage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	prefix = normKey(prefix)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	under := dirPrefix(prefix)
	rows, err := s.pool.Query(ctx, "SELECT key FROM edge_cert_storage WHERE starts_with(key, $1) OR key = $2 ORDER BY key", under, prefix)
	if err != nil {
		return nil, fmt.Errorf("listing %s in Postgres: %w", prefix, err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing %s in Postgres: %w", prefix, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("listing %s: %w", prefix, fs.ErrNotExist)
	}
	seen := make(map[string]struct{})
	var out []string
	add := func(k string) {
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	for _, k := range keys {
		if k == prefix {
			continue // prefix is itself a file: no entries under it
		}
		rest := strings.TrimPrefix(k, under)
		parts := strings.Split(rest, "/")
		if !recursive {
			add(under + parts[0])
			continue
		}
		for i := range parts {
			add(under + strings.Join(parts[:i+1], "/"))
		}
	}
	sort.Strings(out)
	return out, nil
}

var (
	_ certmagic.Storage   = (*PostgresStorage)(nil)
	_ certmagic.TryLocker = (*PostgresStorage)(nil)
)
