package chat

import (
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
