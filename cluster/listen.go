package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// listenLoop keeps one dedicated connection LISTENing on notifyChannel and reconnects
// by itself. After every (re)connect it re-reads the colors, since notifications sent
// while it was away are lost.
func (f *Fleet) listenLoop() {
	defer f.wg.Done()
	backoff := 250 * time.Millisecond
	for f.ctx.Err() == nil {
		err := f.listenOnce()
		if f.ctx.Err() != nil {
			return
		}
		f.markDown(err)
		f.log.Debug("fleet LISTEN connection lost; reconnecting", zap.Error(err), zap.Duration("in", backoff))
		select {
		case <-f.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (f *Fleet) listenOnce() error {
	cctx, cancel := f.opCtx()
	conn, err := pgx.ConnectConfig(cctx, f.cfg.Pool.Config().ConnConfig.Copy())
	cancel()
	if err != nil {
		return fmt.Errorf("connecting for LISTEN: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	}()
	lctx, cancel := f.opCtx()
	_, err = conn.Exec(lctx, "LISTEN "+notifyChannel)
	cancel()
	if err != nil {
		return fmt.Errorf("LISTEN %s: %w", notifyChannel, err)
	}
	sctx, cancel := context.WithTimeout(f.ctx, 3*f.cfg.OpTimeout)
	if f.prepared.Load() {
		err = f.syncAndApply(sctx, false)
	} else {
		err = f.prepare(sctx, false)
	}
	cancel()
	if err != nil {
		return err
	}
	f.listening.Store(true)
	defer f.listening.Store(false)
	f.firstOnce.Do(func() { close(f.firstListen) })
	f.answerMissed()
	// A database that freezes (no FIN) would leave WaitForNotification waiting for
	// ever: wake up every heartbeat and ping, and reconnect when the ping fails.
	for {
		wctx, cancel := context.WithTimeout(f.ctx, f.cfg.Heartbeat)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if f.ctx.Err() != nil {
			return f.ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) || (err != nil && pgconnTimeout(err)) {
			pctx, cancel := f.opCtx()
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("the LISTEN connection stopped answering: %w", err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("waiting for fleet notifications: %w", err)
		}
		f.dispatch(n.Payload)
	}
}

// pgconnTimeout reports whether err is a timeout that left the connection usable.
func pgconnTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// dispatch handles one notification: "check <id>", "color <app>" or
// "presence <instance> <room>".
func (f *Fleet) dispatch(payload string) {
	kind, arg, _ := strings.Cut(payload, " ")
	switch kind {
	case "check":
		id, err := strconv.ParseInt(arg, 10, 64)
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() { defer f.wg.Done(); f.answerCheck(id) }()
	case "presence":
		f.Presence().remote(arg)
	case "color":
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			ctx, cancel := f.opCtx()
			defer cancel()
			if err := f.syncAndApply(ctx, false); err != nil {
				f.log.Warn("reading the fleet colors after a switch failed", zap.String("app", arg), zap.Error(err))
			}
		}()
	}
}

// answerCheck runs this instance's own health check for a switch another instance
// (or this one) is coordinating, and records the answer.
func (f *Fleet) answerCheck(id int64) {
	var (
		app, color string
		timeoutMS  int
	)
	ctx, cancel := f.opCtx()
	err := f.cfg.Pool.QueryRow(ctx, "SELECT app, color, timeout_ms FROM edge_fleet_checks WHERE id = $1", id).Scan(&app, &color, &timeoutMS)
	cancel()
	if err != nil {
		f.log.Warn("reading a fleet health check request failed", zap.Int64("check", id), zap.Error(err))
		return
	}
	pctx, cancel := context.WithTimeout(f.ctx, time.Duration(timeoutMS)*time.Millisecond)
	perr := f.local.Probe(pctx, app, color)
	cancel()
	reason := ""
	if perr != nil {
		reason = perr.Error()
	}
	ctx, cancel = f.opCtx()
	defer cancel()
	if _, err := f.cfg.Pool.Exec(ctx, `INSERT INTO edge_fleet_check_results (check_id, instance, ok, reason) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`, id, f.cfg.Name, perr == nil, reason); err != nil {
		f.log.Warn("recording a fleet health check failed", zap.Int64("check", id), zap.Error(err))
	}
}

// answerMissed answers recent health checks this instance has not answered: their
// notifications may have been sent while the LISTEN connection was down.
func (f *Fleet) answerMissed() {
	ctx, cancel := f.opCtx()
	defer cancel()
	rows, err := f.cfg.Pool.Query(ctx, `SELECT id FROM edge_fleet_checks c
		WHERE asked_at > now() - interval '1 minute'
		AND NOT EXISTS (SELECT 1 FROM edge_fleet_check_results r WHERE r.check_id = c.id AND r.instance = $1)`, f.cfg.Name)
	if err != nil {
		return
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return
	}
	for _, id := range ids {
		f.wg.Add(1)
		go func() { defer f.wg.Done(); f.answerCheck(id) }()
	}
}
