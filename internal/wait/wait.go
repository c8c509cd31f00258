// Package wait polls a condition in tests that watch something happen in another
// goroutine or process (a cache expiring, a port opening, a certificate arriving).
package wait

import (
	"fmt"
	"testing"
	"time"
)

// Until checks every firstInterval, so it catches a state that holds only briefly.
// NoError starts there and slows down to maxInterval: its probes are heavier (a TLS
// handshake, an HTTP request) and should not spin a shared CPU for the whole wait.
const (
	firstInterval = 10 * time.Millisecond
	maxInterval   = 200 * time.Millisecond
)

// Until polls cond until it holds, failing the test with "timed out after d waiting
// for what" when d has passed first.
func Until(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := poll(d, firstInterval, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	}); err != nil {
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
}

// NoError calls f until it returns nil, failing the test with what and f's last error
// when d has passed first.
func NoError(t testing.TB, d time.Duration, what string, f func() error) {
	t.Helper()
	if err := poll(d, maxInterval, f); err != nil {
		t.Fatalf("timed out after %s waiting for %s; last: %v", d, what, err)
	}
}

var errNotYet = fmt.Errorf("not yet")

// poll calls f until it returns nil or d has passed, sleeping firstInterval and then
// doubling up to slowest between calls.
func poll(d, slowest time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	iv := firstInterval
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(iv)
		iv = min(2*iv, slowest)
	}
}
