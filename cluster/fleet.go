package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Fleet is this instance's membership of the fleet. Create it with New, Start it
// before serving (it reads the fleet's colors), Shutdown it at exit.
type Fleet struct {
	cfg   Config
	log   *zap.Logger
	local Local

	prepared    atomic.Bool   // schema applied, registered, seeded
	listening   atomic.Bool   // the LISTEN connection is up
	firstListen chan struct{} // closed when it first came up
	firstOnce   sync.Once
	dbUp        atomic.Bool  // the last statement reached the database
	dbErr       atomic.Value // string: why it did not
	upSince     atomic.Int64 // unix ns when the database became reachable (again)
	colors      sync.Map     // app → fleetApp, as last read from Postgres
	appliers    sync.Map     // app → *applier: one Apply at a time per app

	presence     *Presence
	presenceOnce sync.Once

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// fleetApp is one row of edge_fleet_apps.
type fleetApp struct {
	active, previous string
	version          int64
}

// New checks cfg. It touches no database; Start does.
func New(cfg Config, local Local, log *zap.Logger) (*Fleet, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if local == nil {
		return nil, errors.New("cluster: no Local instance to drive")
	}
	if log == nil {
		log = zap.NewNop()
	}
	f := &Fleet{cfg: cfg, log: log.Named("cluster").With(zap.String("instance", cfg.Name)), local: local}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.firstListen = make(chan struct{})
	f.dbErr.Store("")
	return f, nil
}

// Name is the service name used in logs and errors.
func (f *Fleet) Name() string { return "cluster" }

// Instance is this instance's name in the fleet.
func (f *Fleet) Instance() string { return f.cfg.Name }

// Start creates the tables if needed, registers this instance, seeds the fleet state
// with this instance's colors for apps the fleet has never seen, applies the fleet's
// colors here, and starts the heartbeat and LISTEN loops. When the database cannot
// be reached, Start returns the error: cmd/edge decides whether to serve anyway
// (with the local state) and the loops keep trying.
func (f *Fleet) Start(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, 3*f.cfg.OpTimeout)
	defer cancel()
	err := f.prepare(sctx, true)
	f.wg.Add(2)
	go f.heartbeatLoop()
	go f.listenLoop()
	if err != nil {
		f.markDown(err)
		return fmt.Errorf("joining the fleet: %w", err)
	}
	// A switch started elsewhere right now must reach this instance: do not report
	// "joined" before the LISTEN connection is up.
	select {
	case <-f.firstListen:
		return nil
	case <-sctx.Done():
		return fmt.Errorf("joining the fleet: the notification connection did not come up: %w", sctx.Err())
	}
}

// prepare is the part of Start that needs the database; when Start could not do it,
// the LISTEN loop does it on its first successful connect.
func (f *Fleet) prepare(ctx context.Context, wait bool) error {
	if err := applySchema(ctx, f.cfg.Pool); err != nil {
		return err
	}
	if err := f.beat(ctx); err != nil {
		return err
	}
	for app, color := range f.local.Colors() {
		if _, err := f.cfg.Pool.Exec(ctx, `INSERT INTO edge_fleet_apps (app, active, changed_by) VALUES ($1, $2, $3)
			ON CONFLICT (app) DO NOTHING`, app, color, f.cfg.Name); err != nil {
			return fmt.Errorf("seeding the fleet state of %s: %w", app, err)
		}
	}
	// Before serving: whatever the fleet says is live goes live here now.
	if err := f.syncAndApply(ctx, wait); err != nil {
		return err
	}
	f.prepared.Store(true)
	return nil
}

// Shutdown stops the loops and removes this instance from the registry (so the
// others stop waiting for it at once instead of after MissedHeartbeats).
func (f *Fleet) Shutdown(ctx context.Context) error {
	f.cancel()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("stopping the fleet loops: %w", ctx.Err())
	}
	octx, cancel := context.WithTimeout(ctx, f.cfg.OpTimeout)
	defer cancel()
	if _, err := f.cfg.Pool.Exec(octx, "DELETE FROM edge_instances WHERE name = $1", f.cfg.Name); err != nil {
		return fmt.Errorf("leaving the fleet registry: %w", err)
	}
	return nil
}

func (f *Fleet) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(f.ctx, f.cfg.OpTimeout)
}

func (f *Fleet) markDown(err error) {
	if f.dbUp.Swap(false) || f.dbErr.Load().(string) == "" {
		f.log.Warn("fleet database unreachable; serving the last known colors, switches refused", zap.Error(err))
	}
	f.dbErr.Store(err.Error())
}

func (f *Fleet) markUp() {
	if !f.dbUp.Swap(true) {
		f.upSince.Store(time.Now().UnixNano())
		f.log.Info("fleet database reachable")
	}
	f.dbErr.Store("")
}

// DatabaseUp reports whether the last statement reached the database and this
// instance receives the fleet's notifications, and if not why.
func (f *Fleet) DatabaseUp() (bool, string) {
	if f.dbUp.Load() && !f.listening.Load() {
		return false, "the notification connection is down"
	}
	return f.dbUp.Load(), f.dbErr.Load().(string)
}

// heartbeatLoop refreshes the registry row and re-reads the colors every Heartbeat.
func (f *Fleet) heartbeatLoop() {
	defer f.wg.Done()
	t := time.NewTicker(f.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := f.opCtx()
		if !f.prepared.Load() {
			cancel()
			continue // the LISTEN loop prepares on connect
		}
		err := f.beat(ctx)
		if err == nil {
			err = f.syncAndApply(ctx, false)
		}
		if err == nil {
			err = f.Presence().refresh(ctx)
		}
		cancel()
		if err != nil && f.ctx.Err() == nil {
			f.markDown(err)
		}
	}
}

// beat upserts this instance's row with a fresh last_seen and report.
func (f *Fleet) beat(ctx context.Context) error {
	report, err := json.Marshal(f.local.Report())
	if err != nil {
		return fmt.Errorf("encoding this instance's report: %w", err)
	}
	_, err = f.cfg.Pool.Exec(ctx, `INSERT INTO edge_instances (name, version, started_at, last_seen, report)
		VALUES ($1, $2, now(), now(), $3)
		ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, last_seen = now(), report = EXCLUDED.report`,
		f.cfg.Name, f.cfg.Version, report)
	if err != nil {
		return fmt.Errorf("sending the heartbeat: %w", err)
	}
	f.markUp()
	return nil
}

// syncAndApply reads every app's fleet color and applies the ones that differ here,
// waiting for them when wait is set (at start, before serving).
func (f *Fleet) syncAndApply(ctx context.Context, wait bool) error {
	rows, err := f.cfg.Pool.Query(ctx, "SELECT app, active, coalesce(previous, ''), version FROM edge_fleet_apps")
	if err != nil {
		return fmt.Errorf("reading the fleet colors: %w", err)
	}
	defer rows.Close()
	var apps []string
	for rows.Next() {
		var app string
		var fa fleetApp
		if err := rows.Scan(&app, &fa.active, &fa.previous, &fa.version); err != nil {
			return fmt.Errorf("reading the fleet colors: %w", err)
		}
		f.colors.Store(app, fa)
		apps = append(apps, app)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the fleet colors: %w", err)
	}
	local := f.local.Colors()
	for _, app := range apps {
		v, _ := f.colors.Load(app)
		if c, known := local[app]; !known || c == v.(fleetApp).active {
			continue
		}
		if wait {
			f.applyOnce(app)
		} else {
			f.startApply(app)
		}
	}
	return nil
}
