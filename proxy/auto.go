package proxy

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Defaults of an automatic canary.
var DefaultAutoSteps = []int{10, 25, 50}

const (
	DefaultAutoHold         = time.Minute
	DefaultAutoMaxErrorRise = 5.0 // percentage points
	// autoMinAnswers is how many answers of each color a step needs before their 5xx
	// rates are compared; with fewer the step passes (there is nothing to judge).
	autoMinAnswers = 20
)

// AutoOptions configure SwitchAuto. Zero fields get the defaults above.
type AutoOptions struct {
	// Steps are the canary weights, in order, each 1–99 and above the one before.
	Steps []int
	// Hold is how long each step runs before the colors are compared.
	Hold time.Duration
	// MaxErrorRise is how many percentage points the canary color's 5xx rate may
	// exceed the live color's during a step before everyone goes back.
	MaxErrorRise float64
	// Timeout and MinHealthy are as in SwitchOptions, for every step.
	Timeout    time.Duration
	MinHealthy int
}

// SwitchAuto rolls color out step by step: a canary at each weight of o.Steps, held
// for o.Hold; after each hold the canary color's 5xx rate during the step is compared
// with the live color's, and when it is worse by more than o.MaxErrorRise points
// every visitor goes back (as edge rollback) and an *Error of code CodeCanaryFailed
// says why. After the last step it completes the switch (drain included). If ctx ends
// (the operator stopped waiting), the canary is rolled back too: an unattended
// half-rollout is not left behind.
func (s *Server) SwitchAuto(ctx context.Context, appName string, color Color, o AutoOptions) (*SwitchResult, error) {
	if len(o.Steps) == 0 {
		o.Steps = DefaultAutoSteps
	}
	o.Hold = orDur(o.Hold, DefaultAutoHold)
	if o.MaxErrorRise <= 0 {
		o.MaxErrorRise = DefaultAutoMaxErrorRise
	}
	for i, w := range o.Steps {
		if w < 1 || w > MaxWeight || i > 0 && w <= o.Steps[i-1] {
			return nil, badRequest("auto steps %v must rise, each from 1 to %d", o.Steps, MaxWeight)
		}
	}
	if o.Hold > MaxSwitchTimeout {
		return nil, badRequest("auto hold %s is longer than %s", o.Hold, MaxSwitchTimeout)
	}
	a, err := s.lookupApp(appName)
	if err != nil {
		return nil, err
	}
	live := a.activeColor()
	for _, w := range o.Steps {
		if _, err := s.SwitchWith(ctx, a.name, color, SwitchOptions{Weight: w, Timeout: o.Timeout, MinHealthy: o.MinHealthy}); err != nil {
			s.abortAuto(a.name, live, w)
			return nil, err
		}
		if a, err = s.lookupApp(a.name); err != nil {
			return nil, err
		}
		canary, base := a.pools[color], a.pools[live]
		c0, cf0, b0, bf0 := canary.answered.Load(), canary.failed.Load(), base.answered.Load(), base.failed.Load()
		t := time.NewTimer(o.Hold)
		select {
		case <-ctx.Done():
			t.Stop()
			s.abortAuto(a.name, live, w)
			return nil, errorf(CodeCanaryFailed, 409, fmt.Sprintf("stopped waiting at %d%%; every visitor is back on %s", w, live))
		case <-t.C:
		}
		if a.activeColor() != live || a.weight() != w {
			return nil, errorf(CodeCanaryFailed, 409, fmt.Sprintf("%s changed while the automatic canary held %d%% (now %s, weight %d); the automatic canary stopped",
				a.name, w, a.activeColor(), a.weight()))
		}
		cn, cf := canary.answered.Load()-c0, canary.failed.Load()-cf0
		bn, bf := base.answered.Load()-b0, base.failed.Load()-bf0
		if cn >= autoMinAnswers && bn >= autoMinAnswers {
			cr, br := 100*float64(cf)/float64(cn), 100*float64(bf)/float64(bn)
			s.log.Info("automatic canary step", zap.String("app", a.name), zap.Int("weight", w),
				zap.Float64("canary_5xx_percent", cr), zap.Float64("live_5xx_percent", br))
			if cr-br > o.MaxErrorRise {
				s.abortAuto(a.name, live, w)
				return nil, errorf(CodeCanaryFailed, 409, fmt.Sprintf("%s answered %.1f%% 5xx against %s's %.1f%% at %d%% (more than %.1f points worse); every visitor is back on %s",
					color, cr, live, br, w, o.MaxErrorRise, live))
			}
		}
	}
	return s.SwitchWith(ctx, a.name, color, SwitchOptions{Timeout: o.Timeout, MinHealthy: o.MinHealthy})
}

// abortAuto ends a canary the automatic rollout started, if one runs.
func (s *Server) abortAuto(appName string, live Color, w int) {
	a, err := s.lookupApp(appName)
	if err != nil || a.weight() == 0 || a.activeColor() != live {
		return
	}
	s.log.Warn("automatic canary rolled back", zap.String("app", appName), zap.Int("weight", w))
	if _, err := s.SwitchWith(context.Background(), appName, live, SwitchOptions{}); err != nil {
		s.log.Error("rolling back the automatic canary failed", zap.String("app", appName), zap.Error(err))
	}
}
