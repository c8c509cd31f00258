package chat

import (
	"sync/atomic"
	"time"
)

// Flow control for senders. submit never blocks and the writer is one goroutine, so
// under load hundreds of runnable readers out-compete it for the CPU: they keep reading
// and queueing sends while the writer, preempted among them, commits ever later (what
// bench/chat.sh measured: commits of 0.2–1 s). Instead, a connection that just queued a
// send and finds a full batch already waiting does not read its next frame until the
// writer takes a batch (or roomWait passes): its further frames stay in the kernel's
// socket buffer, which is TCP backpressure to that client, and the writer gets the CPU.
// Connections that only receive are never held (their pongs keep them alive), and
// nobody is held while the store is failing (sends then fail fast, as before).

// roomWait bounds one wait, far below any ping interval.
const roomWait = 250 * time.Millisecond

type roomSignal struct {
	took atomic.Pointer[chan struct{}] // closed and replaced each time a batch is taken
}

func (r *roomSignal) init() {
	ch := make(chan struct{})
	r.took.Store(&ch)
}

// taken wakes every waiting sender; called by the writer after each collect.
func (r *roomSignal) taken() {
	ch := make(chan struct{})
	if old := r.took.Swap(&ch); old != nil {
		close(*old)
	}
}

// waitRoom returns once fewer than a full batch of sends is waiting, the writer has
// taken a batch, or roomWait passed.
func (w *writer) waitRoom() {
	if w.failing.Load() || len(w.in) < w.cfg.BatchMax {
		return
	}
	ch := *w.room.took.Load()
	if len(w.in) < w.cfg.BatchMax {
		return
	}
	t := time.NewTimer(roomWait)
	select {
	case <-ch:
	case <-t.C:
	case <-w.stopc:
	}
	t.Stop()
}
