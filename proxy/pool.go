package proxy

import (
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// MaxReplicas caps the replicas of one color (pick tracks tried ones in a bit mask).
const MaxReplicas = 64

// pool is one color of one app: its replicas and the color's in-flight count, which
// a switch drains. A request is counted here by app.acquire and in one replica by
// pick; slot.end uncounts both.
type pool struct {
	app      string
	color    Color
	cname    string
	replicas []*slot
	state    *appState
	metrics  Metrics

	inFlight atomic.Int64  // requests (and WebSocket handshakes) of this color in progress
	done     atomic.Uint64 // requests of this color finished since start
	next     atomic.Uint32 // where the next pick starts looking, so ties take turns

	// answered and failed count this color's answers and its 5xx ones (edge's own
	// 502/504 included), for comparing the colors during a canary.
	answered, failed atomic.Uint64
}

// countAnswer records one answer of this color with its status code.
func (p *pool) countAnswer(status int) {
	p.answered.Add(1)
	if status >= 500 {
		p.failed.Add(1)
	}
}

func newPool(appName string, c Color, addrs []string, l Limits, h HealthConfig, m Metrics, st *appState, hc HealthConsumer) *pool {
	p := &pool{app: appName, color: c, cname: c.String(), state: st, metrics: m}
	for _, addr := range addrs {
		s := newSlot(p, addr, l, h)
		s.health.consumer = hc
		p.replicas = append(p.replicas, s)
	}
	return p
}

// live reports whether this color receives new requests: it is active, or it is the
// canary color of a running canary.
func (p *pool) live() bool {
	r := p.state.route.Load()
	return Color(r&1) == p.color || r>>8 > 0
}

// pick chooses the replica for one attempt and counts the request in it: a healthy
// one not in tried (a bit per replica index) with the fewest requests in flight,
// ties in turn. With no healthy untried replica it takes any untried one (a color
// whose checks all fail still gets its traffic, as a single address always did), and
// with every replica tried, any.
func (p *pool) pick(tried uint64) *slot {
	n := len(p.replicas)
	if n == 1 {
		s := p.replicas[0]
		s.inFlight.Add(1)
		return s
	}
	start := int(p.next.Add(1)) % n
	var best *slot
	bestLoad, bestHealthy := int64(0), false
	for pass := 0; pass < 2 && best == nil; pass++ {
		for k := 0; k < n; k++ {
			i := (start + k) % n
			if pass == 0 && tried&(1<<i) != 0 {
				continue
			}
			s := p.replicas[i]
			healthy := s.health.healthy.Load()
			load := s.inFlight.Load()
			if best == nil || healthy && !bestHealthy || healthy == bestHealthy && load < bestLoad {
				best, bestLoad, bestHealthy = s, load, healthy
			}
		}
	}
	best.inFlight.Add(1)
	return best
}

// index is s's position in the pool, for the tried mask.
func (p *pool) index(s *slot) int {
	for i, r := range p.replicas {
		if r == s {
			return i
		}
	}
	return 0
}

// move uncounts a request from the replica it left for another.
func (s *slot) leave() { s.inFlight.Add(-1) }

// do sends req through sl. A connection that could not be made at all (nothing was
// sent) counts against that replica's health and the request moves to another
// replica, each tried once (a single replica is tried twice, as before replicas
// existed). So does an idempotent request whose connection broke without an answer
// once the retry on the same replica (slot.roundTrip) failed too: with several replicas,
// that replica has most likely just died (its pooled connections with it), and
// nothing has gone to the client yet. It returns the replica that answered, or the
// last one tried.
func (p *pool) do(sl *slot, o *outbound, h *fasthttp.ResponseHeader) (*slot, *pconn, error) {
	var tried uint64
	attempts := max(2, len(p.replicas))
	for i := 1; ; i++ {
		pc, err := sl.roundTrip(o, h)
		if err == nil {
			return sl, pc, nil
		}
		switch {
		case isDialError(err):
			sl.passiveFailure(err)
		case errors.Is(err, errStaleUnsent) || errors.Is(err, errKilledUnsent):
			sl.closeIdle() // the retry met stale pooled connections too; nothing was sent
		case len(p.replicas) > 1 && p.live() && o.idempotent && connectionBroke(err) && !errors.Is(err, errCut):
			sl.closeIdle() // its other pooled connections are as dead
		default:
			return sl, nil, err
		}
		if i == attempts {
			return sl, nil, err
		}
		tried |= 1 << p.index(sl)
		next := p.pick(tried)
		sl.leave()
		sl = next
	}
}

// dialRaw connects to a replica outside the pool (a WebSocket), moving to another
// replica when the connect fails, as do does. It returns the replica it connected to.
func (p *pool) dialRaw(sl *slot) (*slot, net.Conn, error) {
	var tried uint64
	attempts := max(2, len(p.replicas))
	for i := 1; ; i++ {
		c, err := sl.dialer.Dial("tcp", sl.addr)
		if err == nil {
			return sl, c, nil
		}
		sl.passiveFailure(err)
		if i == attempts {
			return sl, nil, &dialError{err: err}
		}
		tried |= 1 << p.index(sl)
		next := p.pick(tried)
		sl.leave()
		sl = next
	}
}

// healthyCount counts replicas whose checks pass.
func (p *pool) healthyCount() int {
	n := 0
	for _, s := range p.replicas {
		if s.health.healthy.Load() {
			n++
		}
	}
	return n
}

// wsCount counts proxied WebSockets over all replicas.
func (p *pool) wsCount() int {
	n := 0
	for _, s := range p.replicas {
		n += s.ws.len()
	}
	return n
}

// addrs lists the replica addresses, for messages.
func (p *pool) addrs() string {
	list := make([]string, len(p.replicas))
	for i, s := range p.replicas {
		list[i] = s.addr
	}
	return strings.Join(list, ", ")
}

// closeIdle closes pooled keep-alive connections to every replica.
func (p *pool) closeIdle() {
	for _, s := range p.replicas {
		s.closeIdle()
	}
}

// goAwayAll asks the WebSockets of every replica to go away by deadline; it returns
// how many had not been asked before.
func (p *pool) goAwayAll(reason string, deadline time.Time) int {
	n := 0
	for _, s := range p.replicas {
		n += s.ws.goAwayAll(reason, deadline)
	}
	return n
}

// closeAll closes the WebSockets of every replica at once (wsSet.closeAll).
func (p *pool) closeAll(reason string) int {
	n := 0
	for _, s := range p.replicas {
		n += s.ws.closeAll(reason)
	}
	return n
}
