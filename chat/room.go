package chat

import (
	"runtime"
	"sync"
	"time"
)

// rooms is every room with at least one member on this instance.
type rooms struct {
	presenceDelay time.Duration
	presence      PresenceSharer // nil: this instance only

	mu sync.RWMutex
	m  map[string]*room
}

type room struct {
	id string

	mu              sync.RWMutex
	members         map[*member]struct{}
	users           map[string]int // user id -> connections in the room
	presencePending bool
	remote          int // other instances' visitors at the last publish (guarded by mu)
	rs              *rooms
}

// member is one connection in one room. Its delivery state is guarded by s.mu.
type member struct {
	s *session
	r *room

	gen       uint32    // bumped by each (re)join; a replay only finishes its own
	replaying bool      // live messages are buffered until the replay is sent
	detached  bool      // the last join failed: no live messages until a join succeeds
	left      bool      // the connection left the room
	last      int64     // highest message id delivered; older ones are dropped
	buffered  []pending // live messages that arrived during the replay
}

type pending struct {
	id    int64
	frame []byte
}

func newRooms(presenceDelay time.Duration, presence PresenceSharer) *rooms {
	return &rooms{presenceDelay: presenceDelay, presence: presence, m: map[string]*room{}}
}

// join adds s to room id and returns the new member.
func (rs *rooms) join(s *session, id string) *member {
	rs.mu.Lock()
	r := rs.m[id]
	if r == nil {
		r = &room{id: id, members: map[*member]struct{}{}, users: map[string]int{}, rs: rs}
		rs.m[id] = r
	}
	m := &member{s: s, r: r}
	r.mu.Lock()
	r.members[m] = struct{}{}
	r.users[s.user.ID]++
	changed := r.users[s.user.ID] == 1
	r.mu.Unlock()
	rs.mu.Unlock()
	if changed {
		r.presenceChanged()
	}
	return m
}

// leave removes m from its room, dropping the room when it is empty.
func (rs *rooms) leave(m *member) {
	r := m.r
	rs.mu.Lock()
	r.mu.Lock()
	if _, ok := r.members[m]; !ok {
		r.mu.Unlock()
		rs.mu.Unlock()
		return
	}
	delete(r.members, m)
	uid := m.s.user.ID
	r.users[uid]--
	changed := r.users[uid] == 0
	if changed {
		delete(r.users, uid)
	}
	if len(r.members) == 0 && rs.m[r.id] == r {
		delete(rs.m, r.id)
	}
	r.mu.Unlock()
	rs.mu.Unlock()
	if changed {
		r.presenceChanged()
	}
}

func (rs *rooms) get(id string) *room {
	rs.mu.RLock()
	r := rs.m[id]
	rs.mu.RUnlock()
	return r
}

// broadcast delivers a committed message to every member of its room on this instance.
// The frame is encoded once and shared by all connections; ck (may be nil) holds each
// connection's frames until the delivery is done.
func (rs *rooms) broadcast(msg *Message, ck *corker) {
	r := rs.get(msg.Room)
	if r == nil {
		return
	}
	frame := messageFrameFor(msg)
	r.mu.RLock()
	defer r.mu.RUnlock()
	if runtime.GOMAXPROCS(0) == 1 || len(r.members) < 2*fanoutChunk {
		for m := range r.members {
			m.deliver(msg.ID, frame, ck)
		}
		return
	}
	// A big room is written from one goroutine per CPU (fanout.go). The broadcast
	// returns when every member has the frame queued or written, so messages still
	// reach each member in id order.
	list := make([]*member, 0, len(r.members))
	for m := range r.members {
		list = append(list, m)
	}
	forEachParallel(len(list), func(lo, hi int) {
		for _, m := range list[lo:hi] {
			m.deliver(msg.ID, frame, ck)
		}
	})
}

// online is the number of distinct users in the room: on this instance, plus the
// fleet's other instances as last published.
func (r *room) online() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.users) + r.remote
}

// presenceChanged schedules one presence broadcast per PresenceDelay, however many
// joins and leaves happen in between (10k joins must not cost 10k² frames).
func (r *room) presenceChanged() {
	r.mu.Lock()
	if r.presencePending {
		r.mu.Unlock()
		return
	}
	r.presencePending = true
	r.mu.Unlock()
	time.AfterFunc(r.rs.presenceDelay, r.sendPresence)
}

func (r *room) sendPresence() {
	r.mu.Lock()
	r.presencePending = false
	local := len(r.users)
	r.mu.Unlock()
	// Publishing talks to the fleet database (bounded by its timeout): outside mu.
	online := r.fleetOnline(local)
	frame := encodeFrame(presenceFrame{Type: "presence", Room: r.id, Online: online})
	r.mu.RLock()
	for m := range r.members {
		m.deliverControl(frame)
	}
	r.mu.RUnlock()
}

// deliver sends a live message to the member, or buffers it while the join replay runs.
func (m *member) deliver(id int64, frame []byte, ck *corker) {
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case m.left, m.detached:
	case m.replaying:
		if len(m.buffered) >= s.h.cfg.SendQueueFrames {
			s.closeLocked(CloseTryAgain, "slow consumer")
			return
		}
		m.buffered = append(m.buffered, pending{id: id, frame: frame})
	case id > m.last:
		m.last = id
		ck.corkLocked(s)
		s.enqueueLocked(frame)
	}
}

// deliverControl sends a room frame that is not a message (presence) unless the member
// is still replaying (it gets a fresh presence frame after its history).
func (m *member) deliverControl(frame []byte) {
	s := m.s
	s.mu.Lock()
	if !m.left && !m.replaying && !m.detached {
		s.enqueueLocked(frame)
	}
	s.mu.Unlock()
}

// startReplay marks the member as replaying and returns the generation to finish.
func (m *member) startReplay() uint32 {
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	m.gen++
	m.replaying = true
	m.detached = false
	m.buffered = nil
	return m.gen
}

// finishReplay sends the history frame, then the live messages that arrived meanwhile and
// are newer than the history (no gap, no duplicate), then the room's presence.
func (m *member) finishReplay(gen uint32, after int64, msgs []Message, hasMore bool, failed *Error) {
	s := m.s
	room := m.r.id
	var history []byte
	if failed == nil {
		if msgs == nil {
			msgs = []Message{}
		}
		history = encodeFrame(historyFrame{Type: "history", Room: room, Messages: msgs, HasMore: hasMore})
	}
	presence := encodeFrame(presenceFrame{Type: "presence", Room: room, Online: m.r.online()})
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.gen != gen || m.left || !m.replaying {
		return
	}
	last := after
	if failed != nil {
		// Without its history the member has no join point: live messages now would
		// leave a hole between after and them that a later join with after = the newest
		// id seen could not fill. It gets nothing until it joins again.
		m.detached = true
		m.buffered = nil
		m.replaying = false
		s.enqueueLocked(errFrame(failed, "", room))
		return
	}
	s.enqueueLocked(history)
	if n := len(msgs); n > 0 && msgs[n-1].ID > last {
		last = msgs[n-1].ID
	}
	for _, p := range m.buffered {
		if p.id > last {
			last = p.id
			s.enqueueLocked(p.frame)
		}
	}
	if last > m.last {
		m.last = last
	}
	m.buffered = nil
	m.replaying = false
	s.enqueueLocked(presence)
}
