package proxy

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// TrafficResult is the admin API's answer to pause, resume and maintenance.
type TrafficResult struct {
	App         string `json:"app"`
	Paused      bool   `json:"paused"`
	Maintenance bool   `json:"maintenance"`
	Changed     bool   `json:"changed"`
	// Released counts the held requests a resume let go.
	Released int    `json:"released,omitempty"`
	Message  string `json:"message"`
}

// applyState is the one place an app's state changes: the state file first, so that
// what runs is never ahead of what a restart would restore, then the running app.
// The caller holds the app's switch lock.
func (s *Server) applyState(a *app, next AppState) error {
	if err := next.validate(); err != nil {
		return err
	}
	if err := s.state.save(a.name, next); err != nil {
		return err
	}
	a.state.set(next)
	s.cfg.Metrics.TrafficState(a.name, next.Weight, next.Paused, next.Maintenance)
	return nil
}

// AppState returns the state of an app ("" names the only app).
func (s *Server) AppState(appName string) (AppState, error) {
	a, err := s.lookupApp(appName)
	if err != nil {
		return AppState{}, err
	}
	return a.state.get(), nil
}

// ApplyState persists and applies st as it is: no health checks and no drain (a
// fleet that already decided uses it; operators use Switch, Pause and Maintenance).
func (s *Server) ApplyState(ctx context.Context, appName string, st AppState) error {
	return s.withApp(ctx, appName, func(a *app) error {
		if err := s.applyState(a, st); err != nil {
			return errorf(CodeStateWrite, 500, fmt.Sprintf("cannot apply the state of %s: %v", a.name, err))
		}
		return nil
	})
}

// withApp runs fn on the current app under its switch lock.
func (s *Server) withApp(ctx context.Context, appName string, fn func(a *app) error) error {
	a, release, err := s.lockApp(ctx, appName)
	if err != nil {
		return err
	}
	defer release()
	return fn(a)
}

// Pause holds the app's new requests until Resume; each waits at most maxWait (0:
// DefaultPauseMaxWait), then gets 503 with Retry-After. Requests already in flight
// finish. Pausing a paused app changes its max wait.
func (s *Server) Pause(ctx context.Context, appName string, maxWait time.Duration) (*TrafficResult, error) {
	if maxWait < 0 || maxWait > MaxPauseWait {
		return nil, badRequest("max_wait %s is outside 0 to %s", maxWait, MaxPauseWait)
	}
	maxWait = orDur(maxWait, DefaultPauseMaxWait)
	var res *TrafficResult
	err := s.withApp(ctx, appName, func(a *app) error {
		cur := a.state.get()
		next := cur
		next.Paused, next.MaxWait, next.ChangedAt = true, maxWait, time.Now()
		if err := s.applyState(a, next); err != nil {
			return s.stateRefused(a, "pause", err)
		}
		res = &TrafficResult{App: a.name, Paused: true, Maintenance: cur.Maintenance, Changed: !cur.Paused,
			Message: fmt.Sprintf("%s is paused: new requests wait up to %s for 'edge resume'", a.name, maxWait)}
		s.log.Info("paused", zap.String("app", a.name), zap.Duration("max_wait", maxWait))
		return nil
	})
	return res, err
}

// Resume lets the app's held requests go, in the order they came, and ends the pause.
func (s *Server) Resume(ctx context.Context, appName string) (*TrafficResult, error) {
	var res *TrafficResult
	err := s.withApp(ctx, appName, func(a *app) error {
		cur := a.state.get()
		res = &TrafficResult{App: a.name, Maintenance: cur.Maintenance}
		if !cur.Paused {
			res.Message = fmt.Sprintf("%s is not paused; nothing to do", a.name)
			return nil
		}
		held := int(a.state.gate.held.Load())
		next := cur
		next.Paused, next.MaxWait, next.ChangedAt = false, 0, time.Now()
		if err := s.applyState(a, next); err != nil {
			return s.stateRefused(a, "resume", err)
		}
		res.Changed, res.Released = true, held
		res.Message = fmt.Sprintf("%s resumed; %d held requests released", a.name, held)
		s.log.Info("resumed", zap.String("app", a.name), zap.Int("released", held))
		return nil
	})
	return res, err
}

// Maintenance turns maintenance on (every request to the app gets a 503 page with
// message and Retry-After; health checks go on) or off.
func (s *Server) Maintenance(ctx context.Context, appName string, on bool, message string) (*TrafficResult, error) {
	if len(message) > MaxMaintenanceMessage {
		return nil, badRequest("the maintenance message is longer than %d bytes", MaxMaintenanceMessage)
	}
	if !on && message != "" {
		return nil, badRequest("a message goes with maintenance on, not off")
	}
	var res *TrafficResult
	err := s.withApp(ctx, appName, func(a *app) error {
		cur := a.state.get()
		next := cur
		next.Maintenance, next.Message, next.ChangedAt = on, message, time.Now()
		if err := s.applyState(a, next); err != nil {
			return s.stateRefused(a, "maintenance", err)
		}
		res = &TrafficResult{App: a.name, Paused: cur.Paused, Maintenance: on,
			Changed: cur.Maintenance != on || cur.Message != message}
		if on {
			res.Message = fmt.Sprintf("%s is in maintenance: requests get 503 with Retry-After until 'edge maintenance off'", a.name)
		} else {
			res.Message = fmt.Sprintf("%s is out of maintenance and serves from %s", a.name, cur.Active)
		}
		s.log.Info("maintenance", zap.String("app", a.name), zap.Bool("on", on))
		return nil
	})
	return res, err
}

func (s *Server) stateRefused(a *app, what string, err error) error {
	msg := fmt.Sprintf("cannot record the %s of %s in %s (%v); nothing changed", what, a.name, s.cfg.StateFile, err)
	s.log.Error("state change refused", zap.String("app", a.name), zap.String("reason", msg))
	return errorf(CodeStateWrite, 500, msg)
}
