package chat

import "sync"

// A corker batches the frames one delivery (a committed batch: others' messages, acks,
// our messages) queues for each connection, so that a connection gets them in one
// writev(2) instead of one write per frame: a sender's ack and its own message, or a
// busy room's several messages, cost one syscall per member. Frames of a corked
// session are held in its queue (in order, bounded like any queue) until release, which
// the deliverer calls at the end of the delivery. Only sessions that are written
// directly (session_direct_linux.go) are corked; the others have a writer goroutine
// that already takes everything queued in one writev. A room with one message in the
// delivery is not corked at all (Hub.deliver): there is nothing to batch.
type corker struct {
	mu   sync.Mutex
	list []*session
}

// corkLocked holds s's frames until release; s.mu is held.
func (c *corker) corkLocked(s *session) {
	if c == nil || s.corked || s.direct == nil || s.writing || s.closing || s.dead {
		return
	}
	s.corked = true
	c.mu.Lock()
	c.list = append(c.list, s)
	c.mu.Unlock()
}

// release writes every corked session's queue, from one goroutine per CPU when there
// are many.
func (c *corker) release() {
	list := c.list
	forEachParallel(len(list), func(lo, hi int) {
		for _, s := range list[lo:hi] {
			s.uncork()
		}
	})
	clear(list)
	if cap(list) > 4*1024 && len(list) < cap(list)/4 {
		list = nil // do not keep a huge list after one big room's burst
	}
	c.list = list[:0]
}

func (s *session) uncork() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.corked {
		return
	}
	s.corked = false
	if s.writing || len(s.queue) == 0 || s.dead {
		return
	}
	if !s.closeQueued && s.writeDirectLocked() {
		return
	}
	s.startWriterLocked()
}
