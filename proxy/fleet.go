package proxy

import (
	"context"
	"fmt"
	"time"
)

// What a fleet of edges (package cluster, wired by cmd/edge) needs from this proxy:
// each instance probes the target from where it stands, then every instance follows
// the committed color without a health check of its own.

// FleetSwitcher, set in Config.Fleet, takes over the admin API's POST /switch and
// POST /rollback: the fleet checks health from every instance and moves them all.
// Its answers are encoded as the JSON answer; an *Error keeps its code and status.
type FleetSwitcher interface {
	Switch(ctx context.Context, app string, color Color, timeout time.Duration) (any, error)
	Rollback(ctx context.Context, app string, timeout time.Duration) (any, error)
}

// AppName resolves "" to the only app (the CLI may leave --app out with one app).
func (s *Server) AppName(name string) (string, error) {
	a, err := s.lookupApp(name)
	if err != nil {
		return "", err
	}
	return a.name, nil
}

// Probe runs fresh health checks of app's color (as a switch does, `rise` of them)
// within ctx and reports why it is not healthy, or nil.
func (s *Server) Probe(ctx context.Context, appName string, color Color) error {
	a, err := s.lookupApp(appName)
	if err != nil {
		return err
	}
	p := a.pools[color]
	if err := probePool(ctx, p, 0); err != nil {
		return fmt.Errorf("%s (%s) %w", color, p.addrs(), err)
	}
	return nil
}

// Follow makes color live for app without a health check (the fleet checked it from
// every instance), calls flipped right after traffic moved, then drains the old color
// and returns when that is over, like Switch.
func (s *Server) Follow(ctx context.Context, appName string, color Color, flipped func()) (*SwitchResult, error) {
	a, release, err := s.lockApp(ctx, appName)
	if err != nil {
		return nil, err
	}
	defer release()
	from := a.activeColor()
	res := &SwitchResult{App: a.name, From: from.String(), To: color.String()}
	if from == color {
		res.Message = fmt.Sprintf("%s is already on %s here", a.name, color)
		return res, nil
	}
	return s.flip(a, from, color, res, flipped)
}

// ActiveColors is every app's live color here, by app name.
func (s *Server) ActiveColors() map[string]string {
	t := s.table.Load()
	out := make(map[string]string, len(t.order))
	for _, a := range t.order {
		out[a.name] = a.activeColor().String()
	}
	return out
}

// NewError is an admin API error with a code and HTTP status, for FleetSwitcher
// implementations.
func NewError(code string, status int, msg string) *Error { return errorf(code, status, msg) }
