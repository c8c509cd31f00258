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

// roomGen is one generation of waiting senders. It ends (its channel is closed) when
// the writer takes a batch, or roomWait after its first waiter came, whichever is
// first. One timer per generation, not one per waiter: under load hundreds of
// connections wait at once, and a timer each was ~9% of the chat's allocations in
// bench/chat.sh's durable run, besides the timer heap's locking.
type roomGen struct {
	ch    chan struct{}
	armed atomic.Bool // its timer is set
}

type roomSignal struct {
	gen atomic.Pointer[roomGen]
}

func (r *roomSignal) init() {
	r.gen.Store(&roomGen{ch: make(chan struct{})})
}

// taken wakes every waiting sender; called by the writer after each collect.
func (r *roomSignal) taken() {
	for !r.end(r.gen.Load()) {
	}
}

// end ends generation g and starts the next one, unless g has ended already.
func (r *roomSignal) end(g *roomGen) bool {
	if !r.gen.CompareAndSwap(g, &roomGen{ch: make(chan struct{})}) {
		return false
	}
	close(g.ch)
	return true
}

// waitRoom returns once fewer than a full batch of sends is waiting, the writer has
// taken a batch, or at most roomWait passed.
func (w *writer) waitRoom() {
	if w.failing.Load() || len(w.in) < w.cfg.BatchMax {
		return
	}
	g := w.room.gen.Load()
	if len(w.in) < w.cfg.BatchMax {
		return
	}
	if !g.armed.Swap(true) {
		time.AfterFunc(roomWait, func() { w.room.end(g) })
	}
	select {
	case <-g.ch:
	case <-w.stopc:
	}
}
