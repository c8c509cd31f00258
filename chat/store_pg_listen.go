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
	s.keepListening(ctx, notifyChannel, "chat LISTEN connection lost; reconnecting",
		func() { wake(0) },
		func(payload string) {
			if inst, maxID, ok := parseNotify(payload); !ok || inst != s.instance {
				wake(maxID)
			}
		})
}

// keepListening holds a dedicated connection LISTENing on channel until ctx ends:
// connected is called after every (re)connect, notified with every payload. A lost
// connection is dialled again with a backoff of 0.5 s doubling up to 10 s. Used by both
// LISTEN connections (messages, moderation).
func (s *pgStore) keepListening(ctx context.Context, channel, lost string, connected func(), notified func(payload string)) {
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, channel, connected, notified)
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

func (s *pgStore) listenOnce(ctx context.Context, channel string, connected func(), notified func(payload string)) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.ConnectConfig(cctx, s.connCfg.Copy())
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	connected()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		notified(n.Payload)
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
