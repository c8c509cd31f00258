package cluster

import (
	"sync"

	"go.uber.org/zap"
)

// applier runs one Apply at a time for an app; a request arriving meanwhile makes it
// look again when done (so a burst of notifications and heartbeats during a long
// drain costs one more look, not a goroutine each).
type applier struct {
	mu      sync.Mutex
	running bool
	again   bool
}

func (f *Fleet) applierFor(app string) *applier {
	a, _ := f.appliers.LoadOrStore(app, &applier{})
	return a.(*applier)
}

// startApply makes app's fleet color live here in the background.
func (f *Fleet) startApply(app string) {
	a := f.applierFor(app)
	a.mu.Lock()
	if a.running {
		a.again = true
		a.mu.Unlock()
		return
	}
	a.running = true
	a.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			f.applyOnce(app)
			a.mu.Lock()
			if !a.again || f.ctx.Err() != nil {
				a.running = false
				a.mu.Unlock()
				return
			}
			a.again = false
			a.mu.Unlock()
		}
	}()
}

// applyOnce applies app's last known fleet color if it differs here, and records
// when this instance flipped and what its drain did, for the switch's report.
func (f *Fleet) applyOnce(app string) {
	v, ok := f.colors.Load(app)
	if !ok {
		return
	}
	want := v.(fleetApp)
	if f.local.Colors()[app] == want.active {
		return
	}
	record := func(sql string, args ...any) {
		ctx, cancel := f.opCtx()
		defer cancel()
		if _, err := f.cfg.Pool.Exec(ctx, sql, args...); err != nil && f.ctx.Err() == nil {
			f.log.Warn("recording a fleet switch on this instance failed", zap.String("app", app), zap.Error(err))
		}
	}
	flipRecorded := make(chan struct{})
	var once sync.Once
	onFlip := func() {
		once.Do(func() {
			// Not on the flip's path: the row is written while the drain runs.
			go func() {
				defer close(flipRecorded)
				record(`INSERT INTO edge_fleet_applied (app, version, instance, color, flipped_at) VALUES ($1, $2, $3, $4, now())
				ON CONFLICT (app, version, instance) DO UPDATE SET flipped_at = coalesce(edge_fleet_applied.flipped_at, now())`,
					app, want.version, f.cfg.Name, want.active)
			}()
		})
	}
	f.log.Info("applying the fleet's color", zap.String("app", app), zap.String("color", want.active), zap.Int64("version", want.version))
	msg, err := f.local.Apply(f.ctx, app, want.active, onFlip)
	if err != nil {
		msg = "not applied: " + err.Error()
		f.log.Error("applying the fleet's color failed", zap.String("app", app), zap.String("color", want.active), zap.Error(err))
	}
	once.Do(func() { close(flipRecorded) }) // Apply never flipped
	<-flipRecorded
	record(`INSERT INTO edge_fleet_applied (app, version, instance, color, done_at, message) VALUES ($1, $2, $3, $4, now(), $5)
		ON CONFLICT (app, version, instance) DO UPDATE SET done_at = now(), message = EXCLUDED.message`,
		app, want.version, f.cfg.Name, want.active, msg)
}
