package chat_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/edge-server/edge/internal/pgtest"
)

// Fault injection: two hubs on one Postgres, each through a pgProxy; clients that send
// with client ids and resend what was not acked, and reconnect (joining with after = the
// newest id seen) when their hub goes away. After each scenario the checker must find 0
// lost, 0 duplicates, 0 gaps, 0 reorderings. CHAT_FAULT_REPEAT=N repeats each scenario;
// CHAT_FAULT_SEED and CHAT_FAULT_DURATION set the random schedule.

func faultRepeats() int {
	if n, err := strconv.Atoi(os.Getenv("CHAT_FAULT_REPEAT")); err == nil && n > 0 {
		return n
	}
	return 1
}

func repeatScenario(t *testing.T, run func(t *testing.T, db *pgtest.DB) checkResult) {
	var total checkResult
	for i := range faultRepeats() {
		t.Run(fmt.Sprintf("run%d", i), func(t *testing.T) {
			db := pgtest.New(t)
			t.Cleanup(func() { _ = db.Server.Start() })
			res := run(t, db)
			t.Logf("checker: %s", res)
			if !res.ok() {
				t.Errorf("checker found faults: %s", res)
			}
			total.messages += res.messages
			total.acked += res.acked
			total.lost += res.lost
			total.dup += res.dup
			total.gaps += res.gaps
			total.reorders += res.reorders
			total.extra += res.extra
		})
	}
	t.Logf("%d runs: %d rows, %d acked; lost %d, duplicates %d, gaps %d, reorderings %d, unexpected %d",
		faultRepeats(), total.messages, total.acked, total.lost, total.dup, total.gaps, total.reorders, total.extra)
}

// An edge restarted while Postgres is down must not serve joins it cannot continue: its
// members get every message committed after Postgres returns (issue 15, part 1).
func TestFaultRestartDuringOutage(t *testing.T) {
	repeatScenario(t, func(t *testing.T, db *pgtest.DB) checkResult {
		f := newFleet(t, db, 2)
		f.addClients(8, []string{"lobby", "side"}, func(i int) bool { return i%2 == 1 }) // hub 1: listeners only
		time.Sleep(700 * time.Millisecond)
		if err := db.Server.Stop(); err != nil {
			t.Fatal(err)
		}
		f.restartHub(1, func() { time.Sleep(300 * time.Millisecond) })
		time.Sleep(1500 * time.Millisecond) // hub 1's clients are back on it, joins refused
		if err := db.Server.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		f.quiesce()
		return f.check()
	})
}

// A host frozen inside the writer's transaction (after the advisory lock, no FIN) stalls
// acks on the other hub for at most about DBIdleInTxTimeout (2 s); the test allows 5 s.
func TestFaultFrozenLockHolder(t *testing.T) {
	repeatScenario(t, func(t *testing.T, db *pgtest.DB) checkResult {
		f := newFleet(t, db, 2)
		f.addClients(8, []string{"lobby"}, func(int) bool { return false })
		time.Sleep(500 * time.Millisecond)
		f.proxies[0].freezeTxs.Store(1)
		eventually(t, "a writer transaction to freeze", func() bool { return f.proxies[0].frozen.Load() == 1 })
		frozeAt := time.Now()
		time.Sleep(6 * time.Second)
		pause := f.longestAckPause(map[int]bool{1: true}, frozeAt, time.Now())
		t.Logf("longest pause in hub 1's acks after hub 0 froze holding the lock: %v", pause.Round(time.Millisecond))
		if pause > 5*time.Second {
			t.Errorf("hub 1 got no ack for %v while hub 0 was frozen (bound 5s)", pause)
		}
		f.quiesce()
		return f.check()
	})
}

// A random schedule of faults for a bounded time: COMMIT answers cut, writer
// transactions frozen, connections reset, Postgres restarted, hubs restarted (also
// while Postgres is down). The seed is printed; CHAT_FAULT_SEED replays it.
func TestFaultRandomSchedule(t *testing.T) {
	seed := uint64(15)
	if s, err := strconv.ParseUint(os.Getenv("CHAT_FAULT_SEED"), 10, 64); err == nil {
		seed = s
	}
	duration := 6 * time.Second
	if d, err := time.ParseDuration(os.Getenv("CHAT_FAULT_DURATION")); err == nil {
		duration = d
	}
	run := 0
	repeatScenario(t, func(t *testing.T, db *pgtest.DB) checkResult {
		s := seed + uint64(run)
		run++
		t.Logf("random fault schedule: seed %d (CHAT_FAULT_SEED=%d), %v", s, s, duration)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("replay with CHAT_FAULT_SEED=%d CHAT_FAULT_DURATION=%v", s, duration)
			}
		})
		rng := rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
		f := newFleet(t, db, 2)
		f.addClients(8, []string{"lobby", "side"}, func(i int) bool { return i%4 == 1 })
		end := time.Now().Add(duration)
		var actions []string
		for time.Now().Before(end) {
			time.Sleep(time.Duration(150+rng.IntN(500)) * time.Millisecond)
			hub := rng.IntN(2)
			switch rng.IntN(6) {
			case 0:
				f.proxies[hub].cutCommits.Add(1)
				actions = append(actions, fmt.Sprintf("cut-commit(%d)", hub))
			case 1:
				f.proxies[hub].freezeTxs.Store(1)
				actions = append(actions, fmt.Sprintf("freeze-tx(%d)", hub))
			case 2:
				f.proxies[hub].cutAll()
				actions = append(actions, fmt.Sprintf("reset(%d)", hub))
			case 3:
				down := time.Duration(100+rng.IntN(900)) * time.Millisecond
				_ = db.Server.Stop()
				time.Sleep(down)
				if err := db.Server.Start(); err != nil {
					t.Fatal(err)
				}
				actions = append(actions, fmt.Sprintf("pg-down(%v)", down))
			case 4:
				f.restartHub(hub, nil)
				actions = append(actions, fmt.Sprintf("restart(%d)", hub))
			case 5:
				_ = db.Server.Stop()
				f.restartHub(hub, func() { time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond) })
				time.Sleep(time.Duration(100+rng.IntN(500)) * time.Millisecond)
				if err := db.Server.Start(); err != nil {
					t.Fatal(err)
				}
				actions = append(actions, fmt.Sprintf("restart-during-outage(%d)", hub))
			}
		}
		for _, p := range f.proxies {
			p.cutCommits.Store(0)
			p.freezeTxs.Store(0)
		}
		t.Logf("schedule: %v; commits cut %d+%d, transactions frozen %d+%d", actions,
			f.proxies[0].cut.Load(), f.proxies[1].cut.Load(), f.proxies[0].frozen.Load(), f.proxies[1].frozen.Load())
		f.quiesce()
		return f.check()
	})
}

// COMMITs whose answer never reaches the hub (the connection is cut after Postgres
// committed): the resend with the same client id gets the original id, and the catch-up
// delivers the row exactly once.
func TestFaultCommitAnswerCut(t *testing.T) {
	repeatScenario(t, func(t *testing.T, db *pgtest.DB) checkResult {
		f := newFleet(t, db, 2)
		f.addClients(8, []string{"lobby", "side"}, func(int) bool { return false })
		time.Sleep(300 * time.Millisecond)
		for i := range 3 {
			f.proxies[i%2].cutCommits.Add(1)
			eventually(t, "a COMMIT answer to be cut", func() bool { return f.proxies[0].cut.Load()+f.proxies[1].cut.Load() == int32(i+1) })
			time.Sleep(200 * time.Millisecond)
		}
		f.quiesce()
		return f.check()
	})
}

// Transactions cut after their COPY, before COMMIT (the rows reached Postgres, the
// commit never happens): no ack for any of those rows, the resends are stored once, and
// every member sees each room's messages once and in order. Cut commits before it make
// resends of stored messages, which the writer's first attempt (without the resend
// lookup) runs into.
func TestFaultCopyAnswerCut(t *testing.T) {
	repeatScenario(t, func(t *testing.T, db *pgtest.DB) checkResult {
		f := newFleet(t, db, 2)
		f.addClients(8, []string{"lobby", "side"}, func(int) bool { return false })
		time.Sleep(300 * time.Millisecond)
		f.proxies[0].cutCommits.Add(1)
		eventually(t, "a COMMIT answer to be cut", func() bool { return f.proxies[0].cut.Load() == 1 })
		for i := range 3 {
			f.proxies[i%2].cutCopies.Add(1)
			eventually(t, "a COPY answer to be cut", func() bool {
				return f.proxies[0].copiesCut.Load()+f.proxies[1].copiesCut.Load() == int32(i+1)
			})
			time.Sleep(200 * time.Millisecond)
		}
		f.quiesce()
		return f.check()
	})
}
