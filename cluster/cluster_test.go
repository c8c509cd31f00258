package cluster_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edge-server/edge/cluster"
	"github.com/edge-server/edge/internal/pgtest"
	"github.com/edge-server/edge/internal/tcpfault"
	"github.com/edge-server/edge/internal/wait"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap/zaptest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type member struct {
	name  string
	edge  *fakeEdge
	fleet *cluster.Fleet
}

const beat = 200 * time.Millisecond

func newMember(t *testing.T, url, name string, e *fakeEdge) *member {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	f, err := cluster.New(cluster.Config{Pool: pool, Name: name, Version: "test", Heartbeat: beat, OpTimeout: time.Second, ApplyWait: 5 * time.Second}, e, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	m := &member{name: name, edge: e, fleet: f}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = f.Shutdown(ctx)
	})
	return m
}

// startFleet starts n members at the same moment (concurrent migrations included).
func startFleet(t *testing.T, url string, n int) []*member {
	t.Helper()
	ms := make([]*member, n)
	for i := range ms {
		ms[i] = newMember(t, url, "edge-"+string(rune('1'+i)), newFakeEdge("web"))
	}
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.fleet.Start(context.Background()); err != nil {
				t.Errorf("%s Start: %v", m.name, err)
			}
		}()
	}
	wg.Wait()
	return ms
}

func TestFleetSwitchMovesEveryInstance(t *testing.T) {
	db := pgtest.New(t)
	ms := startFleet(t, db.URL, 3)
	ctx := context.Background()

	ins, err := ms[0].fleet.Instances(ctx)
	if err != nil || len(ins) != 3 {
		t.Fatalf("Instances = %v, %v; want 3", ins, err)
	}
	if ins[1].Name != "edge-2" || ins[1].Version != "test" || len(ins[1].Apps) != 1 || ins[1].Apps[0].Active != "blue" || ins[1].ChatConnections != 7 {
		t.Errorf("registry row = %+v", ins[1])
	}

	start := time.Now()
	rep, err := ms[1].fleet.Switch(ctx, "web", "green", 2*time.Second)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Switch: %v", err)
	}
	t.Logf("fleet switch took %v: %s", took.Round(time.Millisecond), rep.Message)
	if !rep.Changed || len(rep.Instances) != 3 {
		t.Fatalf("report = %+v", rep)
	}
	for i, m := range ms {
		if c := m.edge.color("web"); c != "green" {
			t.Errorf("%s serves %s after the switch returned", m.name, c)
		}
		is := rep.Instances[i]
		if is.Instance != m.name || !is.Done || is.FlipMillis < 0 || is.FlipMillis > 1000 {
			t.Errorf("instance report %+v, want done and flipped within 1s", is)
		}
		if m.edge.flips.Load() != 1 {
			t.Errorf("%s flipped %d times", m.name, m.edge.flips.Load())
		}
	}
	if !strings.Contains(rep.Message, "on 3 of 3 instances") {
		t.Errorf("message %q", rep.Message)
	}

	again, err := ms[2].fleet.Switch(ctx, "web", "green", 0)
	if err != nil || again.Changed {
		t.Errorf("switching to the live color = %+v, %v; want a no-op", again, err)
	}
	rb, err := ms[0].fleet.Rollback(ctx, "web", 0)
	if err != nil || rb.To != "blue" {
		t.Fatalf("Rollback = %+v, %v", rb, err)
	}
	for _, m := range ms {
		if c := m.edge.color("web"); c != "blue" {
			t.Errorf("%s serves %s after the rollback", m.name, c)
		}
	}
}

func TestFleetSwitchRefusedWhenOneInstanceSeesGreenUnhealthy(t *testing.T) {
	db := pgtest.New(t)
	ms := startFleet(t, db.URL, 3)
	ms[2].edge.setUnhealthy("green", "GET /health answered 500")
	_, err := ms[0].fleet.Switch(context.Background(), "web", "green", time.Second)
	var ce *cluster.Error
	if !errors.As(err, &ce) || ce.Code != cluster.CodeUnhealthy {
		t.Fatalf("Switch = %v, want an unhealthy refusal", err)
	}
	if !strings.Contains(err.Error(), "edge-3 sees green unhealthy: GET /health answered 500") ||
		!strings.Contains(err.Error(), "traffic stays on blue") || strings.Contains(err.Error(), "edge-1") {
		t.Errorf("refusal %q should name edge-3 only, its reason, and blue", err)
	}
	time.Sleep(3 * beat)
	for _, m := range ms {
		if c := m.edge.color("web"); c != "blue" || m.edge.flips.Load() != 0 {
			t.Errorf("%s serves %s (%d flips) after a refused switch", m.name, c, m.edge.flips.Load())
		}
	}
	ms[2].edge.setUnhealthy("green", "")
	if _, err := ms[0].fleet.Switch(context.Background(), "web", "green", time.Second); err != nil {
		t.Fatalf("Switch once healthy: %v", err)
	}
}

// TestFleetGoneInstancesLeaveTheSwitch: an instance that stops heartbeating (killed:
// no Shutdown) counts as gone after MissedHeartbeats and a switch proceeds without
// it; one that shuts down leaves the registry at once.
func TestFleetGoneInstancesLeaveTheSwitch(t *testing.T) {
	db := pgtest.New(t)
	ms := startFleet(t, db.URL, 3)
	proxy := tcpfault.Start(t, db.Addr())
	ghost := newMember(t, db.URLVia(proxy.Addr), "ghost", newFakeEdge("web"))
	if err := ghost.fleet.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ins, _ := ms[0].fleet.Instances(context.Background())
	if len(ins) != 4 {
		t.Fatalf("%d instances, want 4", len(ins))
	}
	proxy.Freeze() // the ghost's host hangs: no FIN, no heartbeats
	t.Cleanup(func() {
		start := time.Now()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = ghost.fleet.Shutdown(sctx)
		t.Logf("shutting down the frozen instance took %v", time.Since(start).Round(time.Millisecond))
		proxy.Thaw()
		proxy.Cut()
	})
	ctx := context.Background()
	wait.Until(t, 10*beat, "the frozen instance to count as gone", func() bool {
		ins, _ := ms[0].fleet.Instances(ctx)
		return len(ins) == 3
	})
	if _, err := ms[0].fleet.Switch(ctx, "web", "green", time.Second); err != nil {
		t.Fatalf("Switch without the gone instance: %v", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := ms[2].fleet.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	ins, _ = ms[0].fleet.Instances(ctx)
	if len(ins) != 2 {
		t.Errorf("after a shutdown %d instances are live, want 2", len(ins))
	}
}

// TestFleetStartReadsTheColorBeforeServing: a new instance whose local state says
// blue serves the fleet's green as soon as Start returns.
func TestFleetStartReadsTheColorBeforeServing(t *testing.T) {
	db := pgtest.New(t)
	ms := startFleet(t, db.URL, 2)
	if _, err := ms[0].fleet.Switch(context.Background(), "web", "green", time.Second); err != nil {
		t.Fatal(err)
	}
	late := newMember(t, db.URL, "late", newFakeEdge("web"))
	if err := late.fleet.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := late.edge.color("web"); c != "green" {
		t.Errorf("a starting instance serves %s, the fleet says green", c)
	}
}

// TestFleetDatabaseOutage: with Postgres frozen (no FIN) and then stopped, every
// instance keeps its color, a switch is refused with a sentence within a bounded
// time, and once Postgres is back a switch works again.
func TestFleetDatabaseOutage(t *testing.T) {
	db := pgtest.New(t)
	proxy := tcpfault.Start(t, db.Addr())
	ms := make([]*member, 3)
	for i := range ms {
		ms[i] = newMember(t, db.URLVia(proxy.Addr), "edge-"+string(rune('1'+i)), newFakeEdge("web"))
		if err := ms[i].fleet.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if _, err := ms[0].fleet.Switch(ctx, "web", "green", time.Second); err != nil {
		t.Fatal(err)
	}
	for _, fault := range []string{"freeze", "stop"} {
		switch fault {
		case "freeze":
			proxy.Freeze()
		case "stop":
			if err := db.Server.Stop(); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		_, err := ms[1].fleet.Switch(ctx, "web", "blue", time.Second)
		var ce *cluster.Error
		if !errors.As(err, &ce) || ce.Code != cluster.CodeDatabaseDown || !strings.Contains(err.Error(), "switches are refused until it is back") {
			t.Fatalf("%s: Switch = %v, want a database_down refusal", fault, err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%s: the refusal took %v", fault, took)
		}
		t.Logf("%s: refused in %v: %v", fault, time.Since(start).Round(time.Millisecond), err)
		time.Sleep(3 * beat)
		for _, m := range ms {
			if c := m.edge.color("web"); c != "green" {
				t.Errorf("%s: %s serves %s during the outage", fault, m.name, c)
			}
			if up, why := m.fleet.DatabaseUp(); up || why == "" {
				t.Errorf("%s: %s says the database is up", fault, m.name)
			}
		}
		switch fault {
		case "freeze":
			proxy.Thaw()
			proxy.Cut()
		case "stop":
			if err := db.Server.Start(); err != nil {
				t.Fatal(err)
			}
		}
		wait.Until(t, 20*time.Second, "every instance to see the database again", func() bool {
			for _, m := range ms {
				if up, _ := m.fleet.DatabaseUp(); !up {
					return false
				}
			}
			return true
		})
	}
	rep, err := ms[2].fleet.Switch(ctx, "web", "blue", time.Second)
	if err != nil {
		t.Fatalf("Switch after the outage: %v", err)
	}
	for _, m := range ms {
		if c := m.edge.color("web"); c != "blue" {
			t.Errorf("%s serves %s after the switch", m.name, c)
		}
	}
	t.Log(rep.Message)
}

func TestFleetSecretIsShared(t *testing.T) {
	db := pgtest.New(t)
	ms := startFleet(t, db.URL, 3)
	var wg sync.WaitGroup
	got := make([][]byte, len(ms))
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if got[i], err = m.fleet.Secret(context.Background(), "chat", 32); err != nil {
				t.Errorf("Secret: %v", err)
			}
		}()
	}
	wg.Wait()
	for i := range got {
		if len(got[i]) != 32 || string(got[i]) != string(got[0]) {
			t.Fatalf("instance %d got another secret", i)
		}
	}
}
