package cluster_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/edge-server/edge/internal/pgtest"
	"github.com/edge-server/edge/internal/tcpfault"
	"github.com/edge-server/edge/internal/wait"
)

// TestPresenceSumsTheFleet: three instances publish their counts of one room; each
// reads the fleet total, the others are told when one changes, and the counts of an
// instance that stops heartbeating (frozen, no FIN) drop out after MissedHeartbeats.
func TestPresenceSumsTheFleet(t *testing.T) {
	db := pgtest.New(t)
	ms := startFleet(t, db.URL, 2)
	proxy := tcpfault.Start(t, db.Addr())
	frozen := newMember(t, db.URLVia(proxy.Addr), "frozen", newFakeEdge("web"))
	if err := frozen.fleet.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Thaw(); proxy.Cut() })
	var mu sync.Mutex
	told := map[string]int{}
	for _, m := range ms {
		name := m.name
		m.fleet.Presence().OnChange(func(room string) {
			mu.Lock()
			told[name+"/"+room]++
			mu.Unlock()
		})
	}
	toldCount := func(key string) int { mu.Lock(); defer mu.Unlock(); return told[key] }

	if n, err := ms[0].fleet.Presence().Publish("lobby", 2); err != nil || n != 2 {
		t.Fatalf("first publish = %d, %v", n, err)
	}
	if n, err := ms[1].fleet.Presence().Publish("lobby", 3); err != nil || n != 5 {
		t.Fatalf("second publish = %d, %v; want 5", n, err)
	}
	wait.Until(t, 2*time.Second, "edge-1 to be told about edge-2's count", func() bool { return toldCount("edge-1/lobby") > 0 })
	if n, _ := frozen.fleet.Presence().Publish("lobby", 4); n != 9 {
		t.Fatalf("third publish = %d, want 9", n)
	}
	if n, _ := ms[0].fleet.Presence().Publish("lobby", 2); n != 9 {
		t.Fatalf("re-publish = %d, want 9", n)
	}
	time.Sleep(3 * beat) // the notifications of the publishes above have arrived
	before := toldCount("edge-1/lobby")
	proxy.Freeze()
	wait.Until(t, 10*beat+2*time.Second, "edge-1 to be told the frozen instance's visitors left", func() bool {
		return toldCount("edge-1/lobby") > before
	})
	if n, _ := ms[0].fleet.Presence().Publish("lobby", 2); n != 5 {
		t.Errorf("after the frozen instance dropped out the total is %d, want 5", n)
	}
	if n, _ := ms[1].fleet.Presence().Publish("lobby", 0); n != 2 {
		t.Errorf("after edge-2 emptied the room the total is %d, want 2", n)
	}
}
