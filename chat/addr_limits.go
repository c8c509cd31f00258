package chat

import (
	"math"
	"net/netip"
	"sync"
	"time"
)

// addrKey is the unit a client address is limited by: the IPv4 address, or the IPv6 /64
// (one subscriber typically owns a whole /64, so per-address limits on IPv6 would be
// free to dodge).
func addrKey(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.Prefix(64)
	return p
}

// addrLimiter is a token bucket per address key (session creation). It tracks at most
// max keys: when full, keys whose bucket has refilled are forgotten (a forgotten key
// starts with a full bucket, which is what it would have anyway); if none has, all are
// forgotten, trading precision for bounded memory under a flood of distinct addresses.
type addrLimiter struct {
	rate  float64
	burst int
	max   int

	mu sync.Mutex
	m  map[netip.Prefix]*bucket
}

func newAddrLimiter(rate float64, burst, max int) *addrLimiter {
	return &addrLimiter{rate: rate, burst: burst, max: max, m: map[netip.Prefix]*bucket{}}
}

// take takes a token for ip; when there is none it returns false and how long until
// there is one.
func (l *addrLimiter) take(ip netip.Addr, now time.Time) (bool, time.Duration) {
	k := addrKey(ip)
	ns := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[k]
	if b == nil {
		if len(l.m) >= l.max {
			l.prune(ns)
		}
		b = &bucket{}
		l.m[k] = b
	}
	if b.take(ns, l.rate, l.burst) {
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, max(wait, time.Second)
}

func (l *addrLimiter) prune(now int64) {
	full := int64(float64(l.burst) / l.rate * float64(time.Second))
	for k, b := range l.m {
		if now-b.last >= full {
			delete(l.m, k)
		}
	}
	if len(l.m) >= l.max {
		clear(l.m)
	}
}

// retryAfter is the Retry-After header value for d: whole seconds, rounded up.
func retryAfter(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

// roomCap limits how many rooms one address key may bring into existence per hour. A
// room counts as created by an address when a join from it finds nobody in the room on
// this instance; joining it again within the hour does not count twice.
type roomCap struct {
	limit int
	max   int

	mu sync.Mutex
	m  map[netip.Prefix]*roomWindow
}

type roomWindow struct {
	start time.Time
	rooms map[string]struct{}
}

const roomCapWindow = time.Hour

func newRoomCap(limit, max int) *roomCap {
	return &roomCap{limit: limit, max: max, m: map[netip.Prefix]*roomWindow{}}
}

func (c *roomCap) allow(ip netip.Addr, room string, now time.Time) bool {
	k := addrKey(ip)
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.m[k]
	if w == nil || now.Sub(w.start) >= roomCapWindow {
		if w == nil && len(c.m) >= c.max {
			for k, o := range c.m {
				if now.Sub(o.start) >= roomCapWindow {
					delete(c.m, k)
				}
			}
			if len(c.m) >= c.max {
				return false // a flood of addresses creating rooms: refuse rather than forget
			}
		}
		w = &roomWindow{start: now, rooms: map[string]struct{}{}}
		c.m[k] = w
	}
	if _, ok := w.rooms[room]; ok {
		return true
	}
	if len(w.rooms) >= c.limit {
		return false
	}
	w.rooms[room] = struct{}{}
	return true
}
