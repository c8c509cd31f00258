package proxy

import (
	"context"
	"fmt"
	"sync"
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

// colorIndex maps a color name from Color.String back to the color.
func colorIndex(name string) Color {
	if name == "green" {
		return Green
	}
	return Blue
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

// appState is the part of an app that survives a reload: where its traffic goes
// (live color, canary weight), which color was live before, pause and maintenance,
// and the lock that serializes switches. Server.applyState is the one place that
// changes it.
type appState struct {
	// route packs the active color (bit 0) and the canary weight, 0–99 (bits 8–15):
	// one atomic word, so a request sees both from the same instant.
	route    atomic.Uint32
	previous atomic.Int32                    // Color, or -1 before the first switch
	gate     gate                            // holds requests while paused
	maint    atomic.Pointer[maintenancePage] // non-nil while in maintenance
	lock     chan struct{}                   // held (one token taken) while a switch runs

	mu  sync.Mutex
	cur AppState // as last applied; persisted in the state file
}

func packRoute(active Color, weight int) uint32 { return uint32(active) | uint32(weight)<<8 }

func newAppState(st AppState) *appState {
	a := &appState{lock: make(chan struct{}, 1)}
	a.set(st)
	return a
}

// set makes st the running state. Callers persist it first (Server.applyState).
func (a *appState) set(st AppState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cur = st
	a.previous.Store(st.previous())
	a.route.Store(packRoute(st.Active, st.Weight))
	if st.Maintenance {
		a.maint.Store(newMaintenancePage(st.Message))
	} else {
		a.maint.Store(nil)
	}
	if st.Paused {
		a.gate.pause(st.MaxWait)
	} else {
		a.gate.resume()
	}
}

func (a *appState) get() AppState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
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
	pools [2]*pool
	state *appState
}

func (a *app) activeColor() Color { return Color(a.state.route.Load() & 1) }

// weight is the running canary's percentage of visitors on the other color, or 0.
func (a *app) weight() int { return int(a.state.route.Load() >> 8) }

func (a *app) previousColor() (Color, bool) {
	p := a.state.previous.Load()
	return Color(max(p, 0)), p >= 0
}

// acquire picks the color for this request (the active one, or the canary color for
// the visitors its weight covers) and counts the request in flight there. The second
// load closes the race with a switch: a drain that saw zero in flight after the flip
// can never miss a request, because such a request sees the new route and moves.
func (a *app) acquire(v *visitor) *pool {
	for {
		r := a.state.route.Load()
		c := Color(r & 1)
		if w := r >> 8; w > 0 && v.bucket() < w {
			c = c.Other()
		}
		p := a.pools[c]
		p.inFlight.Add(1)
		if a.state.route.Load() == r {
			return p
		}
		p.inFlight.Add(-1)
	}
}
