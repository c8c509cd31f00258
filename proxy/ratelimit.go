package proxy

import (
	"net/netip"
	"sync"
	"time"
)

// rateLimiter is a token bucket per client address, kept as GCRA: one "theoretical
// arrival time" per client instead of a token count and a timestamp. A client may
// make burst requests at once and rate per second after that.
//
// Memory is bounded under an address flood: each shard keeps two generations of
// clients; when the current one is full it becomes the previous one and the old
// previous is dropped whole. A client seen recently is moved into the current
// generation on its next request, so only clients idle for a whole generation are
// forgotten, and a forgotten client only gets a fresh (full) bucket, never a wrong
// refusal.
type rateLimiter struct {
	interval time.Duration // time one token takes to come back: 1/rate
	burstDur time.Duration // interval * burst: how far ahead a client may run
	perShard int
	shards   [rateShards]rateShard
	now      func() time.Time
}

const rateShards = 64

type rateShard struct {
	mu        sync.Mutex
	cur, prev map[netip.Addr]int64 // client → theoretical arrival time (unix nanos)
}

// newRateLimiter allows rate requests per second with the given burst, tracking
// about 2*tracked clients at most.
func newRateLimiter(rate float64, burst, tracked int) *rateLimiter {
	if burst <= 0 {
		burst = max(1, int(rate))
	}
	if tracked <= 0 {
		tracked = 65536
	}
	iv := time.Duration(float64(time.Second) / rate)
	l := &rateLimiter{interval: iv, burstDur: iv * time.Duration(burst),
		perShard: max(1, tracked/rateShards), now: time.Now}
	for i := range l.shards {
		l.shards[i].cur = make(map[netip.Addr]int64)
	}
	return l
}

// rateKey groups IPv6 clients by /64: one subscriber usually holds a whole /64, so
// keying by full address would let one client rotate through 2^64 buckets.
func rateKey(a netip.Addr) netip.Addr {
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

func (l *rateLimiter) shard(a netip.Addr) *rateShard {
	b := a.As16()
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return &l.shards[h%rateShards]
}

// allow takes one token for client a. When it refuses, retry is how long until a
// token is back.
func (l *rateLimiter) allow(a netip.Addr) (ok bool, retry time.Duration) {
	a = rateKey(a)
	now := l.now().UnixNano()
	s := l.shard(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, found := s.cur[a]
	if !found {
		if tat, found = s.prev[a]; found {
			delete(s.prev, a)
		}
	}
	if tat < now {
		tat = now
	}
	next := tat + int64(l.interval)
	if over := next - now - int64(l.burstDur); over > 0 {
		if found {
			s.put(a, tat, l.perShard)
		}
		return false, time.Duration(over)
	}
	s.put(a, next, l.perShard)
	return true, 0
}

func (s *rateShard) put(a netip.Addr, tat int64, limit int) {
	if _, ok := s.cur[a]; !ok && len(s.cur) >= limit {
		s.prev, s.cur = s.cur, make(map[netip.Addr]int64, limit)
	}
	s.cur[a] = tat
}
