package chat

import (
	"runtime"
	"sync"
)

// Frames are handled on a small pool of worker goroutines rather than on each
// connection's reader: decoding JSON, validating and queueing replies need a deeper
// stack than waiting on a socket, and a goroutine keeps the largest stack it ever
// needed until a garbage collection shrinks it. This way 10k idle readers keep their
// initial 2 KiB stacks. The reader waits for its frame to be handled, so frames of one
// connection are still handled in order.

type job struct {
	s    *session
	f    frame
	act  action
	done chan struct{}
}

var jobPool = sync.Pool{New: func() any { return &job{done: make(chan struct{}, 1)} }}

func (h *Hub) startWorkers() {
	n := max(4, 4*runtime.GOMAXPROCS(0))
	h.bg.Add(n)
	for range n {
		go func() {
			defer h.bg.Done()
			for {
				select {
				case j := <-h.jobs:
					j.act = j.s.handleFrame(j.f)
					j.done <- struct{}{}
				case <-h.bgCtx.Done():
					return
				}
			}
		}()
	}
}

// process handles one frame of s on a worker and returns what the reader does next.
func (h *Hub) process(s *session, f frame) action {
	j := jobPool.Get().(*job)
	j.s, j.f = s, f
	select {
	case h.jobs <- j:
	case <-h.bgCtx.Done():
		j.s, j.f = nil, frame{}
		jobPool.Put(j)
		return actStop
	}
	<-j.done
	act := j.act
	j.s, j.f = nil, frame{}
	jobPool.Put(j)
	return act
}
