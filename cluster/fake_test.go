package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edge-server/edge/cluster"
)

// fakeEdge stands in for cmd/edge's proxy adapter: the Fleet's side of the boundary
// (the database, notifications, timing) is real; only traffic is not. What the
// proxy does with Apply is tested in cmd/edge's end-to-end tests.
type fakeEdge struct {
	mu       sync.Mutex
	colors   map[string]string
	unhealth map[string]string // color → reason this instance sees it unhealthy
	flips    atomic.Int32
	flipAt   map[string]time.Time
}

func newFakeEdge(apps ...string) *fakeEdge {
	e := &fakeEdge{colors: map[string]string{}, unhealth: map[string]string{}, flipAt: map[string]time.Time{}}
	for _, a := range apps {
		e.colors[a] = "blue"
	}
	return e
}

func (e *fakeEdge) Colors() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]string, len(e.colors))
	for k, v := range e.colors {
		out[k] = v
	}
	return out
}

func (e *fakeEdge) color(app string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.colors[app]
}

func (e *fakeEdge) setUnhealthy(color, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if reason == "" {
		delete(e.unhealth, color)
	} else {
		e.unhealth[color] = reason
	}
}

func (e *fakeEdge) Probe(ctx context.Context, app, color string) error {
	e.mu.Lock()
	reason := e.unhealth[color]
	e.mu.Unlock()
	if reason != "" {
		return errors.New(reason)
	}
	return ctx.Err()
}

func (e *fakeEdge) Apply(_ context.Context, app, color string, flipped func()) (string, error) {
	e.mu.Lock()
	e.colors[app] = color
	e.flipAt[app] = time.Now()
	e.mu.Unlock()
	e.flips.Add(1)
	flipped()
	return fmt.Sprintf("%s drained in 0s", app), nil
}

func (e *fakeEdge) Report() cluster.Report {
	var r cluster.Report
	for app, c := range e.Colors() {
		r.Apps = append(r.Apps, cluster.AppReport{Name: app, Active: c})
	}
	r.ChatConnections = 7
	return r
}
