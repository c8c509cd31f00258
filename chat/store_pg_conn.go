package chat

import (
	"context"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Why these bounds: the writer lock (pg_advisory_xact_lock) is fleet-wide, so a session
// that holds it and stops talking stalls every edge's writes until Postgres ends it.
// Postgres's defaults never do (idle_in_transaction_session_timeout 0; keepalives after
// about 2 h), so edge sets, on each of its own sessions, limits that Postgres enforces
// by itself whatever happened to the host: a frozen or vanished holder loses the lock
// after at most DBIdleInTxTimeout (stopped between statements) or DBStatementTimeout
// (stopped in the middle of one, e.g. a COPY), and a silent peer's socket is dropped
// after DBDeadPeerTimeout on both ends.

// dbLimits are the session and socket bounds of one pgStore.
type dbLimits struct {
	statement, idleInTx, deadPeer, connect time.Duration
}

// sessionParams are the run-time parameters sent in the startup packet. tx adds the
// statement bounds, which pooled sessions get and the migration session does not (a
// migration may legitimately run long).
func (l dbLimits) sessionParams(tx bool) map[string]string {
	ka := max(l.deadPeer/3, time.Second)
	p := map[string]string{
		"tcp_user_timeout":        strconv.FormatInt(l.deadPeer.Milliseconds(), 10),
		"tcp_keepalives_idle":     strconv.Itoa(int(ka / time.Second)),
		"tcp_keepalives_interval": strconv.Itoa(int(ka / time.Second)),
		"tcp_keepalives_count":    "2",
	}
	if tx {
		p["statement_timeout"] = strconv.FormatInt(l.statement.Milliseconds(), 10)
		p["lock_timeout"] = strconv.FormatInt(l.statement.Milliseconds(), 10)
		p["idle_in_transaction_session_timeout"] = strconv.FormatInt(l.idleInTx.Milliseconds(), 10)
	}
	return p
}

// apply sets the parameters and the dialer on one connection config.
func (l dbLimits) apply(cfg *pgconn.Config, tx bool) {
	for k, v := range l.sessionParams(tx) {
		cfg.RuntimeParams[k] = v
	}
	cfg.DialFunc = l.dial
}

// dial connects with keepalives and TCP_USER_TIMEOUT, so that a database host that
// vanished fails edge's reads and writes within deadPeer rather than hours later.
func (l dbLimits) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	ka := max(l.deadPeer/3, time.Second)
	d := net.Dialer{
		Timeout:         l.connect,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: ka, Interval: ka, Count: 2},
		Control: func(network, _ string, c syscall.RawConn) error {
			if network != "tcp" && network != "tcp4" && network != "tcp6" {
				return nil
			}
			var serr error
			if err := c.Control(func(fd uintptr) { serr = setUserTimeout(fd, l.deadPeer) }); err != nil {
				return err
			}
			return serr
		},
	}
	return d.DialContext(ctx, network, addr)
}
