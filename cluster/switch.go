package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// SwitchReport is what a fleet-wide switch did, per instance.
type SwitchReport struct {
	App       string           `json:"app"`
	From      string           `json:"from"`
	To        string           `json:"to"`
	Changed   bool             `json:"changed"`
	Message   string           `json:"message"`
	Instances []InstanceSwitch `json:"instances"`
}

// InstanceSwitch is one instance's part of a switch.
type InstanceSwitch struct {
	Instance string `json:"instance"`
	// FlipMillis is the time from the commit to this instance's flip, by the
	// database's clock (-1: not confirmed).
	FlipMillis int64  `json:"flip_ms"`
	Done       bool   `json:"done"`    // drained and reported
	Message    string `json:"message"` // the instance's own sentence about its drain
}

// poll is how often a coordinating switch looks for the other instances' answers.
const poll = 20 * time.Millisecond

// Switch moves app to color on every live instance: each one checks color's health
// from where it stands, and only when all pass is the new color committed to
// Postgres and announced; every instance then flips and drains its own old color.
// It returns after all of them confirmed (or Config.ApplyWait passed), reporting
// each. Refusals are *Error values naming the instance and why; nothing moved then.
func (f *Fleet) Switch(ctx context.Context, app, color string, timeout time.Duration) (*SwitchReport, error) {
	if color != "blue" && color != "green" {
		return nil, errorf(CodeBadRequest, "%q is not a color; use blue or green", color)
	}
	if timeout <= 0 {
		timeout = f.cfg.ProbeTimeout
	}
	cur, err := f.readApp(ctx, app)
	if err != nil {
		return nil, err
	}
	rep := &SwitchReport{App: app, From: cur.active, To: color}
	if err := f.settle(ctx); err != nil {
		return nil, err
	}
	live, err := f.Instances(ctx)
	if err != nil {
		return nil, f.downError(err, cur.active)
	}
	names := make([]string, len(live))
	for i, in := range live {
		names[i] = in.Name
	}
	if !slices.Contains(names, f.cfg.Name) {
		return nil, errorf(CodeDatabaseDown, "this instance (%s) is not registered in the fleet yet (its heartbeats do not reach the database); no instance moved, traffic stays on %s", f.cfg.Name, cur.active)
	}
	if err := f.checkEverywhere(ctx, app, color, cur.active, timeout, names); err != nil {
		return nil, err
	}
	if cur.active == color {
		// Like a single edge: asking for the live color succeeds only if it is healthy
		// everywhere, so a deploy script learns when it is down.
		rep.Message = fmt.Sprintf("%s is already on %s across the fleet, which every instance sees healthy; nothing to do", app, color)
		return rep, nil
	}
	committed, version, err := f.commit(ctx, app, color, cur)
	if err != nil {
		return nil, err
	}
	f.log.Info("fleet switch committed", zap.String("app", app), zap.String("from", cur.active), zap.String("to", color),
		zap.Int64("version", version), zap.Strings("instances", names))
	rep.Changed = true
	rep.Instances = f.waitApplied(ctx, app, version, committed, names)
	rep.Message = summary(rep)
	return rep, nil
}

// Rollback switches app back to its previous fleet color.
func (f *Fleet) Rollback(ctx context.Context, app string, timeout time.Duration) (*SwitchReport, error) {
	cur, err := f.readApp(ctx, app)
	if err != nil {
		return nil, err
	}
	if cur.previous == "" {
		return nil, errorf(CodeNoPrevious, "%s has never been switched in the fleet, so there is nothing to roll back to; it serves from %s", app, cur.active)
	}
	return f.Switch(ctx, app, cur.previous, timeout)
}

// settle waits, after the database came back from an outage (or at start), until
// every live instance has had MissedHeartbeats to re-register: otherwise an instance
// still reconnecting would look gone, be left out of the health check, and then
// follow the switch unchecked.
func (f *Fleet) settle(ctx context.Context) error {
	if up, why := f.DatabaseUp(); !up {
		if why == "" {
			why = "not connected yet"
		}
		return errorf(CodeDatabaseDown, "the fleet database cannot be reached (%s); switches are refused until it is back, and every instance keeps serving its current color", why)
	}
	wait := time.Until(time.Unix(0, f.upSince.Load()).Add(f.goneAfter()))
	if wait <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return errorf(CodeNoAnswer, "gave up waiting for the fleet to re-register after the database came back: %v", ctx.Err())
	case <-time.After(wait):
		return nil
	}
}

func (f *Fleet) downError(err error, serving string) *Error {
	f.markDown(err)
	keep := "the color it serves"
	if serving != "" {
		keep = serving
	}
	return errorf(CodeDatabaseDown, "the fleet database cannot be reached (%v); switches are refused until it is back, and every instance keeps serving %s", err, keep)
}

func (f *Fleet) readApp(ctx context.Context, app string) (fleetApp, error) {
	octx, cancel := context.WithTimeout(ctx, f.cfg.OpTimeout)
	defer cancel()
	var fa fleetApp
	err := f.cfg.Pool.QueryRow(octx, "SELECT active, coalesce(previous, ''), version FROM edge_fleet_apps WHERE app = $1", app).
		Scan(&fa.active, &fa.previous, &fa.version)
	if errors.Is(err, pgx.ErrNoRows) {
		return fa, errorf(CodeUnknownApp, "the fleet has no app named %q", app)
	}
	if err != nil {
		serving := ""
		if v, ok := f.colors.Load(app); ok {
			serving = v.(fleetApp).active
		}
		return fa, f.downError(err, serving)
	}
	return fa, nil
}

// checkEverywhere asks every live instance to probe color and waits for all answers.
func (f *Fleet) checkEverywhere(ctx context.Context, app, color, from string, timeout time.Duration, names []string) error {
	octx, cancel := context.WithTimeout(ctx, f.cfg.OpTimeout)
	var id int64
	err := pgx.BeginFunc(octx, f.cfg.Pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(octx, `INSERT INTO edge_fleet_checks (app, color, timeout_ms, asked_by) VALUES ($1, $2, $3, $4) RETURNING id`,
			app, color, timeout.Milliseconds(), f.cfg.Name).Scan(&id)
		if err != nil {
			return err
		}
		_, err = tx.Exec(octx, "SELECT pg_notify($1, $2)", notifyChannel, fmt.Sprintf("check %d", id))
		return err
	})
	cancel()
	if err != nil {
		return f.downError(err, from)
	}
	deadline := time.Now().Add(timeout + 2*f.cfg.OpTimeout)
	type answer struct {
		ok     bool
		reason string
	}
	answers := map[string]answer{}
	for {
		octx, cancel := context.WithTimeout(ctx, f.cfg.OpTimeout)
		rows, err := f.cfg.Pool.Query(octx, "SELECT instance, ok, reason FROM edge_fleet_check_results WHERE check_id = $1", id)
		if err == nil {
			for rows.Next() {
				var name string
				var a answer
				if rows.Scan(&name, &a.ok, &a.reason) == nil {
					answers[name] = a
				}
			}
			err = rows.Err()
			rows.Close()
		}
		cancel()
		if err != nil {
			return f.downError(err, from)
		}
		var bad, missing []string
		for _, n := range names {
			a, ok := answers[n]
			switch {
			case !ok:
				missing = append(missing, n)
			case !a.ok:
				bad = append(bad, fmt.Sprintf("%s sees %s unhealthy: %s", n, color, a.reason))
			}
		}
		if len(bad) > 0 {
			msg := fmt.Sprintf("%s; no instance moved, traffic stays on %s", strings.Join(bad, "; "), from)
			f.log.Warn("fleet switch refused", zap.String("app", app), zap.String("reason", msg))
			return errorf(CodeUnhealthy, "%s", msg)
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errorf(CodeNoAnswer, "%s did not report %s's health within %v; no instance moved, traffic stays on %s",
				strings.Join(missing, ", "), color, timeout+2*f.cfg.OpTimeout, from)
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}
}

// commit records the new color if nobody else switched app since cur was read, and
// announces it; it returns the commit time by the database's clock.
func (f *Fleet) commit(ctx context.Context, app, color string, cur fleetApp) (time.Time, int64, error) {
	octx, cancel := context.WithTimeout(ctx, f.cfg.OpTimeout)
	defer cancel()
	var (
		at      time.Time
		version int64
	)
	err := pgx.BeginFunc(octx, f.cfg.Pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(octx, `UPDATE edge_fleet_apps SET active = $2, previous = active, version = version + 1,
				changed_at = now(), changed_by = $3
			WHERE app = $1 AND version = $4 RETURNING changed_at, version`, app, color, f.cfg.Name, cur.version).Scan(&at, &version)
		if err != nil {
			return err
		}
		_, err = tx.Exec(octx, "SELECT pg_notify($1, $2)", notifyChannel, "color "+app)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return at, 0, errorf(CodeConflict, "another switch of %s was committed meanwhile; check edge status and try again", app)
	}
	if err != nil {
		return at, 0, f.downError(err, cur.active)
	}
	return at, version, nil
}

// waitApplied collects every instance's confirmation of version, until all are done
// or ApplyWait passes.
func (f *Fleet) waitApplied(ctx context.Context, app string, version int64, committed time.Time, names []string) []InstanceSwitch {
	deadline := time.Now().Add(f.cfg.ApplyWait)
	got := map[string]InstanceSwitch{}
	for {
		octx, cancel := context.WithTimeout(ctx, f.cfg.OpTimeout)
		rows, err := f.cfg.Pool.Query(octx, `SELECT instance, flipped_at, done_at IS NOT NULL, message
			FROM edge_fleet_applied WHERE app = $1 AND version = $2`, app, version)
		if err == nil {
			for rows.Next() {
				var is InstanceSwitch
				var flipped *time.Time
				if rows.Scan(&is.Instance, &flipped, &is.Done, &is.Message) == nil {
					is.FlipMillis = -1
					if flipped != nil {
						is.FlipMillis = max(flipped.Sub(committed).Milliseconds(), 0)
					}
					got[is.Instance] = is
				}
			}
			rows.Close()
		}
		cancel()
		all := true
		for _, n := range names {
			if !got[n].Done {
				all = false
			}
		}
		if all || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(poll)
	}
	out := make([]InstanceSwitch, 0, len(names))
	for _, n := range names {
		is, ok := got[n]
		if !ok {
			is = InstanceSwitch{Instance: n, FlipMillis: -1, Message: fmt.Sprintf("did not confirm within %v; it applies the new color when it next reads the fleet state", f.cfg.ApplyWait)}
		}
		out = append(out, is)
	}
	return out
}

func summary(r *SwitchReport) string {
	var parts []string
	pending := []string{}
	for _, is := range r.Instances {
		if is.FlipMillis < 0 {
			pending = append(pending, is.Instance)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s flipped in %dms", is.Instance, is.FlipMillis))
	}
	msg := fmt.Sprintf("%s now serves from %s on %d of %d instances (%s)", r.App, r.To, len(parts), len(r.Instances), strings.Join(parts, ", "))
	if len(pending) > 0 {
		slices.Sort(pending)
		msg += fmt.Sprintf("; not confirmed: %s", strings.Join(pending, ", "))
	}
	return msg
}
