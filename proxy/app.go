package proxy

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Color names one of an app's two upstreams.
type Color uint8

// The two colors. Blue is the default active color.
const (
	Blue Color = iota
	Green
)

// String returns "blue" or "green".
func (c Color) String() string {
	if c == Green {
		return "green"
	}
	return "blue"
}

// Other returns the other color.
func (c Color) Other() Color { return 1 - c }

// ParseColor accepts "blue" or "green" (exactly, lowercase).
func ParseColor(s string) (Color, error) {
	switch s {
	case "blue":
		return Blue, nil
	case "green":
		return Green, nil
	}
	return Blue, fmt.Errorf("color %q is not blue or green", s)
}

// appState is the part of an app that survives a reload: which color is live, which
// was live before, and the lock that serializes switches.
type appState struct {
	active   atomic.Uint32 // Color
	previous atomic.Int32  // Color, or -1 before the first switch
	lock     chan struct{} // held (one token taken) while a switch runs
}

func newAppState(active Color, previous int32) *appState {
	st := &appState{lock: make(chan struct{}, 1)}
	st.active.Store(uint32(active))
	st.previous.Store(previous)
	return st
}

func (st *appState) acquire(ctx context.Context) error {
	select {
	case st.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (st *appState) release() { <-st.lock }

// app is one blue/green pair as routed by the current table.
type app struct {
	name  string
	cfg   AppConfig
	slots [2]*slot
	state *appState
}

func (a *app) activeColor() Color { return Color(a.state.active.Load()) }

func (a *app) previousColor() (Color, bool) {
	p := a.state.previous.Load()
	return Color(max(p, 0)), p >= 0
}

// acquire picks the live slot and counts the request in flight there. The second load
// closes the race with a switch: a drain that saw zero in flight after the flip can
// never miss a request, because such a request sees the new color and moves.
func (a *app) acquire() *slot {
	for {
		c := a.state.active.Load()
		s := a.slots[c]
		s.inFlight.Add(1)
		if a.state.active.Load() == c {
			return s
		}
		s.inFlight.Add(-1)
	}
}
