package chat

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// listen keeps one dedicated connection LISTENing for other instances' commits and
// reconnects by itself. Each (re)connect wakes the caller once, since notifications sent
// while it was away are lost; the writer then catches up with id > cursor.
func (s *pgStore) listen(ctx context.Context, wake func(maxID int64)) {
	s.keepListening(ctx, "chat LISTEN connection lost; reconnecting", func(ctx context.Context) error { return s.listenOnce(ctx, wake) })
}

// keepListening runs once until ctx ends, again after each failure with a backoff of
// 0.5 s doubling up to 10 s. Used by both LISTEN connections (messages, moderation).
func (s *pgStore) keepListening(ctx context.Context, lost string, once func(context.Context) error) {
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		err := once(ctx)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn(lost, zap.Error(err), zap.Duration("in", backoff))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (s *pgStore) listenOnce(ctx context.Context, wake func(int64)) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.ConnectConfig(cctx, s.connCfg.Copy())
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	wake(0)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		inst, maxID, ok := parseNotify(n.Payload)
		if ok && inst == s.instance {
			continue
		}
		wake(maxID)
	}
}

// parseNotify reads "<instance> <max id> <rooms>"; maxID is 0 when it cannot be read.
func parseNotify(p string) (instance string, maxID int64, ok bool) {
	inst, rest, ok := strings.Cut(p, " ")
	if !ok {
		return "", 0, false
	}
	num, _, _ := strings.Cut(rest, " ")
	id, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return inst, 0, true
	}
	return inst, id, true
}
