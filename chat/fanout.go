package chat

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// fanoutChunk is the smallest share of a room's members worth its own goroutine.
const fanoutChunk = 256

// fanoutStep is how many recipients a fan-out goroutine takes at a time.
const fanoutStep = 64

// forEachParallel calls f(lo, hi) over [0, n) in steps of fanoutStep, from one
// goroutine per CPU when n is big enough (on the caller's alone otherwise), and
// returns when all are done. Each recipient costs a write(2) that runs the loopback or
// NIC path inline, so more cores deliver sooner. The steps are taken from a shared
// counter rather than split in fixed halves: on a shared machine one of the goroutines
// may wait for its CPU, and the others then take its share instead of the fan-out's
// last recipients waiting for it.
func forEachParallel(n int, f func(lo, hi int)) {
	parts := runtime.GOMAXPROCS(0)
	if parts == 1 || n < 2*fanoutChunk {
		f(0, n)
		return
	}
	parts = min(parts, n/fanoutChunk)
	var next atomic.Int64
	work := func() {
		for {
			hi := int(next.Add(fanoutStep))
			lo := hi - fanoutStep
			if lo >= n {
				return
			}
			f(lo, min(hi, n))
		}
	}
	var wg sync.WaitGroup
	for range parts - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}
