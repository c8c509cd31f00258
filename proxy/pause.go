package proxy

import (
	"sync"
	"sync/atomic"
	"time"
)

// Limits of pause and maintenance settings.
const (
	// DefaultPauseMaxWait is how long a paused app holds a request when the pause
	// names no max wait.
	DefaultPauseMaxWait = 30 * time.Second
	// MaxPauseWait caps max_wait.
	MaxPauseWait = 10 * time.Minute
	// pauseRetryAfter is the Retry-After (seconds) of a request held past max_wait.
	pauseRetryAfter = "5"
)

// gate holds an app's requests while it is paused and lets them go, in the order
// they arrived, on resume. An open gate costs one atomic load per request.
type gate struct {
	closed atomic.Bool
	held   atomic.Int64 // requests waiting now, for status

	mu      sync.Mutex
	maxWait time.Duration
	waiters []chan struct{} // in arrival order
}

func (g *gate) pause(maxWait time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.maxWait = orDur(maxWait, DefaultPauseMaxWait)
	g.closed.Store(true)
}

// resume opens the gate and wakes every held request, first come first.
func (g *gate) resume() int {
	g.mu.Lock()
	g.closed.Store(false)
	ws := g.waiters
	g.waiters = nil
	g.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
	return len(ws)
}

// wait holds the caller while the gate is closed. It returns true when the request
// may go on, false when it waited max_wait or stop closed (edge is shutting down).
func (g *gate) wait(stop <-chan struct{}) bool {
	g.mu.Lock()
	if !g.closed.Load() {
		g.mu.Unlock()
		return true
	}
	w := make(chan struct{})
	g.waiters = append(g.waiters, w)
	d := g.maxWait
	g.mu.Unlock()
	g.held.Add(1)
	defer g.held.Add(-1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w:
		return true
	case <-t.C:
	case <-stop:
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, x := range g.waiters {
		if x == w {
			g.waiters = append(g.waiters[:i], g.waiters[i+1:]...)
			return false
		}
	}
	return true // resumed at the same moment: it was released
}
