package chat

import (
	"context"
	"math"
	"sort"
	"sync"
)

// memStore keeps messages in memory: the demo store used when no database is configured.
// It keeps the newest max messages; older ones (and their idempotency keys) are dropped.
type memStore struct {
	max int

	mu     sync.RWMutex
	nextID int64
	all    []Message            // id order
	rooms  map[string][]Message // id order, per room
	keys   map[idemKey]int64    // (sender, client id) -> id
	byID   map[int64]Message    // for idempotent lookups

	banMu    sync.Mutex // bans and held messages (moderation_store.go, moderation_held_store.go)
	banSeq   int64
	bans     []Ban
	heldSeq  int64
	heldMsgs []HeldMessage
}

type idemKey struct{ sender, client string }

func newMemStore(max int) *memStore {
	return &memStore{max: max, rooms: map[string][]Message{}, keys: map[idemKey]int64{}, byID: map[int64]Message{}}
}

func (s *memStore) open(context.Context) error { return nil }
func (s *memStore) close()                     {}

func (s *memStore) listen(ctx context.Context, _ func(int64)) { <-ctx.Done() }

func (s *memStore) maxID(context.Context) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nextID, nil
}

func (s *memStore) commit(ctx context.Context, cursor int64, batch []Message) ([]Message, []commitResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	remote := afterID(s.all, cursor, 0)
	remote = append([]Message(nil), remote...)
	res := make([]commitResult, len(batch))
	for i, m := range batch {
		k := idemKey{m.SenderID, m.ClientID}
		if m.ClientID != "" {
			if id, ok := s.keys[k]; ok {
				res[i] = commitResult{msg: s.byID[id], dup: true}
				continue
			}
		}
		s.nextID++
		m.ID = s.nextID
		s.all = append(s.all, m)
		s.rooms[m.Room] = append(s.rooms[m.Room], m)
		if m.ClientID != "" {
			s.keys[k] = m.ID
			s.byID[m.ID] = m
		}
		res[i] = commitResult{msg: m}
	}
	s.evict()
	return remote, res, nil
}

// evict drops the oldest messages beyond max.
func (s *memStore) evict() {
	over := len(s.all) - s.max
	if over <= 0 {
		return
	}
	for _, m := range s.all[:over] {
		r := s.rooms[m.Room]
		if len(r) > 0 && r[0].ID == m.ID {
			r = r[1:]
		}
		if len(r) == 0 {
			delete(s.rooms, m.Room)
		} else {
			s.rooms[m.Room] = r
		}
		if m.ClientID != "" {
			delete(s.keys, idemKey{m.SenderID, m.ClientID})
			delete(s.byID, m.ID)
		}
	}
	s.all = append(s.all[:0:0], s.all[over:]...)
}

// afterID returns the messages of msgs (id order) with id > after, at most limit (0 = all).
func afterID(msgs []Message, after int64, limit int) []Message {
	i := sort.Search(len(msgs), func(i int) bool { return msgs[i].ID > after })
	out := msgs[i:]
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

func (s *memStore) latest(ctx context.Context, room string, after int64, limit int) ([]Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := afterID(s.rooms[room], after, 0)
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return append([]Message(nil), out...), nil
}

func (s *memStore) before(ctx context.Context, room string, before int64, limit int) ([]Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if before <= 0 {
		before = math.MaxInt64
	}
	r := s.rooms[room]
	j := sort.Search(len(r), func(i int) bool { return r[i].ID >= before })
	out := r[:j]
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return append([]Message(nil), out...), nil
}

func (s *memStore) since(ctx context.Context, cursor int64, limit int) ([]Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]Message(nil), afterID(s.all, cursor, limit)...), nil
}
