package wait

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilReturnsOnceTrue(t *testing.T) {
	var n atomic.Int32
	start := time.Now()
	Until(t, 5*time.Second, "the third call", func() bool { return n.Add(1) >= 3 })
	if n.Load() != 3 {
		t.Errorf("cond called %d times, want 3", n.Load())
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("took %s for three quick polls", el)
	}
}

func TestPollGivesUpWithLastError(t *testing.T) {
	var n int
	start := time.Now()
	err := poll(300*time.Millisecond, maxInterval, func() error { n++; return errors.New("still down") })
	if err == nil || err.Error() != "still down" {
		t.Fatalf("poll = %v, want the last error", err)
	}
	if el := time.Since(start); el < 300*time.Millisecond || el > 300*time.Millisecond+2*maxInterval {
		t.Errorf("gave up after %s, want about 300ms", el)
	}
	if n < 3 || n > 10 {
		t.Errorf("%d calls in 300ms; backoff from %s to %s wants about 5", n, firstInterval, maxInterval)
	}
}
