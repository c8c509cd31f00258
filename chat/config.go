// Package chat is the in-process WebSocket chat: rooms, history in Postgres, anonymous
// identities, and the embedded web UI. The wire protocol is documented in
// docs/chat-protocol.md.
package chat

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// Config is what the chat needs. cmd/edge fills it from the YAML file and environment.
// Zero values mean "use the default" documented on each field.
type Config struct {
	// Mount is the path prefix the chat is routed at; it must start and end with "/".
	// Default "/chat/".
	Mount string
	// DatabaseURL is a Postgres connection string (never logged). "" uses an in-memory
	// store (demo only; a warning is logged at start).
	DatabaseURL string
	// Origins are allowed WebSocket/embedding origins besides the chat's own, e.g.
	// "https://blog.example.com". Same-origin is always allowed. Default none.
	Origins []string
	// NicknameLocale is "ko" (default) or "en".
	NicknameLocale string
	// Secret signs session tokens (HS256); at least 32 bytes. Required; cmd/edge
	// generates one into state_dir.
	Secret []byte

	// TokenTTL is how long a session token is valid. Default 24h.
	TokenTTL time.Duration
	// MaxContentChars is the longest message, in characters after trimming. Default 2000.
	MaxContentChars int
	// MaxFrameBytes caps one client WebSocket message (all fragments). Default 16 KiB.
	MaxFrameBytes int
	// FrameTimeout is how long the rest of a frame may take once its first byte arrived.
	// Idle connections have no timeout (liveness is checked with pings). Default 30s.
	FrameTimeout time.Duration
	// MessageRate and MessageBurst are the per-connection token bucket for client
	// frames (join, send, leave): frames per second and bucket size. Defaults 10 and 40.
	MessageRate  float64
	MessageBurst int
	// MaxViolations is how many refused frames (bad JSON, rate limited, invalid room…)
	// a connection may produce within ViolationWindow before it is closed with 1008.
	// Defaults 20 and 1m.
	MaxViolations   int
	ViolationWindow time.Duration
	// MaxConnsPerIP caps concurrent WebSocket connections from one IP. Default 100.
	MaxConnsPerIP int
	// MaxRoomsPerConn caps how many rooms one connection may join. Default 16.
	MaxRoomsPerConn int
	// PingInterval is how often the server pings each connection; a peer that sends
	// nothing (not even a pong) within one interval after a ping is dropped. Default 25s.
	PingInterval time.Duration
	// WriteTimeout bounds one socket write. Default 10s.
	WriteTimeout time.Duration
	// SendQueueFrames and SendQueueBytes bound the frames queued for one connection;
	// a connection that falls further behind is closed with 1013. Defaults 256 and 1 MiB.
	SendQueueFrames int
	SendQueueBytes  int
	// HistorySize is how many recent messages a join without "after" gets. Default 50.
	HistorySize int
	// ReplayMax caps the messages a join with "after" replays (the newest ones; the
	// history frame then says has_more). Default 1000.
	ReplayMax int
	// HistoryPageMax caps ?limit= on the REST history endpoint. Default 200.
	HistoryPageMax int
	// BatchMax caps how many sends go into one database transaction (batches are only
	// as large as what queued up during the previous commit). Default 4000.
	BatchMax int
	// WriterQueue bounds sends waiting for the writer; beyond it sends get
	// "unavailable". Default 16384.
	WriterQueue int
	// DBTimeout bounds one database round trip (batch commit, history query). Default 5s.
	DBTimeout time.Duration
	// StartTimeout is how long Start waits for the database. If it is still unreachable,
	// Start returns nil and keeps retrying in the background (sends get "unavailable"
	// until then). Default 5s.
	StartTimeout time.Duration
	// PollInterval is the slow fallback poll for messages written by other instances
	// (LISTEN/NOTIFY is the fast path). Default 5s.
	PollInterval time.Duration
	// DBStatementTimeout is statement_timeout and lock_timeout on every pooled session:
	// no statement of edge's, and no wait for the fleet-wide writer lock, runs longer
	// (migrations are exempt). Default 3s.
	DBStatementTimeout time.Duration
	// DBIdleInTxTimeout is idle_in_transaction_session_timeout on every pooled session:
	// Postgres ends a session of a host that stopped inside a transaction (frozen, or
	// dead without a FIN) after this long, which frees the writer lock it held. A healthy
	// writer never idles inside its transaction for more than a few milliseconds.
	// Default 2s.
	DBIdleInTxTimeout time.Duration
	// DBDeadPeerTimeout is how long a database connection may go without an answer from
	// the other side before the kernel drops it: TCP_USER_TIMEOUT and keepalives (idle
	// and interval a third of it, 2 probes) on edge's sockets, and the same through
	// tcp_user_timeout / tcp_keepalives_* on Postgres's side of each session. Default 3s.
	DBDeadPeerTimeout time.Duration
	// PoolSize is the number of pooled database connections (plus two LISTEN connections:
	// messages and moderation events).
	// Default 8.
	PoolSize int
	// PresenceDelay coalesces presence broadcasts of a room. Default 500ms.
	PresenceDelay time.Duration
	// SessionRate and SessionBurst are the token bucket for POST api/session per client
	// address (the socket peer; IPv6 by /64): sessions per second and bucket size. An
	// empty bucket answers 429 with Retry-After. Defaults 1 and 20.
	SessionRate  float64
	SessionBurst int
	// RoomsPerAddrHour caps the rooms one address (IPv6: /64) may create per hour; a
	// join creates a room when nobody is in it on this instance. Default 30.
	RoomsPerAddrHour int
	// MaxTrackedAddrs bounds the addresses the two limits above remember. Default 100000.
	MaxTrackedAddrs int
	// Filter is the optional word filter on sends (Hub.SetFilter replaces it). Default none.
	Filter FilterConfig
	// MemoryStoreMax is how many messages the in-memory store keeps. Default 100000.
	MemoryStoreMax int
	// InstanceID names this hub in NOTIFY payloads. Default: random.
	InstanceID string
	// Presence shares room presence with the other instances of a fleet, so the
	// "online" count is the fleet's; call Hub.PresenceChanged when it says another
	// instance's count changed. Default nil: presence counts this instance only.
	Presence PresenceSharer
	// Metrics receives connection and writer events. Default: a no-op.
	Metrics Metrics
	// KeepHijackedConns must be set exactly when the fasthttp.Server serving Handler()
	// has KeepHijackedConns = true. Plain TCP connections are always detached from
	// fasthttp after the upgrade (their descriptor is duplicated); other connections (TLS,
	// wrapped listeners) can only be detached when fasthttp does not close hijacked
	// connections itself, and otherwise keep fasthttp's request context, read buffer and
	// handler goroutine (~18 KiB more per connection). Default false.
	KeepHijackedConns bool
	// Assets holds the web UI under "static/" (static/index.html, static/widget.js, …).
	// Default: the embedded chat/web.FS.
	Assets fs.FS
}

// Defaults.
const (
	DefaultMount           = "/chat/"
	DefaultTokenTTL        = 24 * time.Hour
	DefaultMaxContentChars = 2000
	DefaultMaxFrameBytes   = 16 << 10
	DefaultPingInterval    = 25 * time.Second
)

func (c Config) withDefaults() Config {
	setStr(&c.Mount, DefaultMount)
	setStr(&c.NicknameLocale, "ko")
	setDur(&c.TokenTTL, DefaultTokenTTL)
	setInt(&c.MaxContentChars, DefaultMaxContentChars)
	setInt(&c.MaxFrameBytes, DefaultMaxFrameBytes)
	setDur(&c.FrameTimeout, 30*time.Second)
	if c.MessageRate <= 0 {
		c.MessageRate = 10
	}
	setInt(&c.MessageBurst, 40)
	setInt(&c.MaxViolations, 20)
	setDur(&c.ViolationWindow, time.Minute)
	setInt(&c.MaxConnsPerIP, 100)
	setInt(&c.MaxRoomsPerConn, 16)
	setDur(&c.PingInterval, DefaultPingInterval)
	setDur(&c.WriteTimeout, 10*time.Second)
	setInt(&c.SendQueueFrames, 256)
	setInt(&c.SendQueueBytes, 1<<20)
	setInt(&c.HistorySize, 50)
	setInt(&c.ReplayMax, 1000)
	setInt(&c.HistoryPageMax, 200)
	setInt(&c.BatchMax, 4000)
	setInt(&c.WriterQueue, 16384)
	setDur(&c.DBTimeout, 5*time.Second)
	setDur(&c.StartTimeout, 5*time.Second)
	setDur(&c.PollInterval, 5*time.Second)
	setInt(&c.PoolSize, 8)
	setDur(&c.DBStatementTimeout, 3*time.Second)
	setDur(&c.DBIdleInTxTimeout, 2*time.Second)
	setDur(&c.DBDeadPeerTimeout, 3*time.Second)
	setDur(&c.PresenceDelay, 500*time.Millisecond)
	setInt(&c.MemoryStoreMax, 100000)
	if c.SessionRate <= 0 {
		c.SessionRate = 1
	}
	setInt(&c.SessionBurst, 20)
	setInt(&c.RoomsPerAddrHour, 30)
	setInt(&c.MaxTrackedAddrs, 100000)
	if c.Metrics == nil {
		c.Metrics = nopMetrics{}
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if !strings.HasPrefix(c.Mount, "/") || !strings.HasSuffix(c.Mount, "/") {
		errs = append(errs, fmt.Errorf("mount %q must start and end with /", c.Mount))
	}
	if c.NicknameLocale != "ko" && c.NicknameLocale != "en" {
		errs = append(errs, fmt.Errorf("nickname_locale %q must be ko or en", c.NicknameLocale))
	}
	if len(c.Secret) < 32 {
		errs = append(errs, errors.New("the session secret must be at least 32 bytes"))
	}
	for _, o := range c.Origins {
		if normalizeOrigin(o) == "" {
			errs = append(errs, fmt.Errorf("origin %q is not scheme://host[:port]", o))
		}
	}
	if c.MaxFrameBytes < 512 {
		errs = append(errs, fmt.Errorf("max frame size %d is below 512 bytes", c.MaxFrameBytes))
	}
	return errors.Join(errs...)
}

func setStr(p *string, d string) {
	if *p == "" {
		*p = d
	}
}

func setInt(p *int, d int) {
	if *p <= 0 {
		*p = d
	}
}

func setDur(p *time.Duration, d time.Duration) {
	if *p <= 0 {
		*p = d
	}
}
