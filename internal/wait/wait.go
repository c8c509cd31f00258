// Package wait polls a condition in tests that watch something happen in another
// goroutine or process (a cache expiring, a port opening, a certificate arriving).
package wait

import (
	"testing"
	"time"
)

// Interval is how often Until checks its condition.
const Interval = 10 * time.Millisecond

// Until polls cond every Interval until it holds, failing the test with "timed out
// after d waiting for what" when d has passed first.
func Until(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(Interval)
	}
}
