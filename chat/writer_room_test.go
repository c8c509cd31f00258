package chat

import (
	"sync"
	"testing"
	"time"
)

// A sender is held only while a full batch waits, and never longer than roomWait: not
// when the writer is stuck, and not at all while the store is failing.
func TestWaitRoomIsBounded(t *testing.T) {
	cfg := &Config{BatchMax: 2, WriterQueue: 8}
	w := newWriter(nil, cfg, nil, nil)
	start := time.Now()
	w.waitRoom()
	if d := time.Since(start); d > roomWait/2 {
		t.Fatalf("held %v with an empty queue", d)
	}
	for range 3 {
		w.in <- sendReq{}
	}
	start = time.Now()
	w.waitRoom() // nobody takes the batch: the writer is stuck
	if d := time.Since(start); d < roomWait || d > 10*roomWait {
		t.Fatalf("held %v behind a stuck writer, want about %v", d, roomWait)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		w.room.taken()
	}()
	start = time.Now()
	w.waitRoom()
	if d := time.Since(start); d >= roomWait {
		t.Fatalf("held %v after the writer took a batch", d)
	}
	w.failing.Store(true)
	start = time.Now()
	w.waitRoom()
	if d := time.Since(start); d > roomWait/2 {
		t.Fatalf("held %v while the store is failing", d)
	}
}

// Senders that start waiting at different times share one timer (one per generation):
// each is held at most roomWait from its own start, and one taken batch releases
// every waiter at once, those that came after the timer ended the previous generation
// included.
func TestWaitRoomSharesOneTimer(t *testing.T) {
	cfg := &Config{BatchMax: 2, WriterQueue: 8}
	w := newWriter(nil, cfg, nil, nil)
	for range 3 {
		w.in <- sendReq{}
	}
	const slack = 150 * time.Millisecond // scheduling under -race on a busy box
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 40 {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 5 * time.Millisecond) // the last ones join after 195 ms
			began := time.Now()
			w.waitRoom()
			if d := time.Since(began); d > roomWait+slack {
				t.Errorf("waiter %d held %v, want at most %v", i, d, roomWait)
			}
		})
	}
	wg.Wait()
	if d := time.Since(start); d < roomWait || d > roomWait+slack {
		t.Fatalf("the waiters were released after %v, want about %v (the first one's timer)", d, roomWait)
	}

	// A new generation: waiters that came after the timer fired are all woken by one
	// taken batch, long before their own roomWait.
	released := make(chan time.Duration, 30)
	for range 30 {
		go func() {
			began := time.Now()
			w.waitRoom()
			released <- time.Since(began)
		}()
	}
	time.Sleep(30 * time.Millisecond)
	w.room.taken()
	for range 30 {
		if d := <-released; d >= roomWait {
			t.Fatalf("a waiter was held %v after the writer took a batch", d)
		}
	}
}
