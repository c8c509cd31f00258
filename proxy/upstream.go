package proxy

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"

	"github.com/valyala/fasthttp"

	"github.com/edge-server/edge/internal/syncset"
)

// slot is one replica of one color of one app: its address, connection pool,
// in-flight counter, proxied WebSockets and health.
type slot struct {
	app    string
	color  Color
	cname  string // color.String(), kept to avoid conversions on the hot path
	addr   string
	up     upstreamPool
	dialer net.Dialer
	limits Limits
	conns  connSet
	ws     wsSet
	health *health

	inFlight atomic.Int64 // requests (and WebSocket handshakes) in progress here

	metrics Metrics
	pool    *pool // the color this replica belongs to
}

func newSlot(p *pool, addr string, l Limits, h HealthConfig) *slot {
	s := &slot{app: p.app, color: p.color, cname: p.cname, addr: addr, limits: l, metrics: p.metrics, pool: p}
	s.dialer = net.Dialer{Timeout: l.ConnectTimeout}
	s.up = upstreamPool{dial: s.dial, max: l.MaxConnsPerUpstream, wait: l.ConnectTimeout,
		maxIdle: l.IdleTimeout / 2, bufSize: l.MaxHeaderBytes}
	s.conns.onStale = s.up.closeIdle
	s.health = newHealth(s, h)
	return s
}

func (s *slot) dial() (*upConn, error) {
	c, err := s.dialer.Dial("tcp", s.addr)
	if err != nil {
		return nil, &dialError{err: err}
	}
	uc := &upConn{Conn: c, set: &s.conns, idle: s.limits.UpstreamTimeout}
	s.conns.add(uc)
	return uc, nil
}

// retryIfErr says whether a request that failed with err is sent once more: always
// when nothing was sent; for idempotent requests when a pooled keep-alive connection
// turned out to be closed by the upstream. It never retries after a timeout, nor on a
// color that is no longer live: that is how a drain cut looks, and the cut must stand.
func (s *slot) retryIfErr(idempotent bool, err error) bool {
	if isUnsent(err) {
		return true
	}
	if errors.Is(err, errCut) || isTimeout(err) || !s.pool.live() {
		return false
	}
	return idempotent && connectionBroke(err)
}

func idempotent(h *fasthttp.RequestHeader) bool {
	return h.IsGet() || h.IsHead() || h.IsOptions() || h.IsPut() || h.IsDelete()
}

// connectionBroke reports an upstream connection that ended without an answer.
func connectionBroke(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isDialError(err error) bool {
	var de *dialError
	return errors.As(err, &de)
}

// passiveFailure counts a connect error seen while proxying as a failed check.
func (s *slot) passiveFailure(err error) {
	s.health.record(describeUpstreamErr(err, s.limits.ConnectTimeout))
}

// begin/end bracket one proxied request for metrics; acquire and pick already
// counted it in the color and in this replica.
func (s *slot) begin() { s.metrics.InFlight(s.app, s.cname, 1) }

func (s *slot) end() {
	s.inFlight.Add(-1)
	s.pool.inFlight.Add(-1)
	s.pool.done.Add(1)
	s.metrics.InFlight(s.app, s.cname, -1)
}

// closeIdle closes pooled keep-alive connections to this upstream.
func (s *slot) closeIdle() { s.up.closeIdle() }

// stop ends health checks and closes idle connections; in-flight work finishes.
func (s *slot) stop() {
	s.health.stop()
	s.closeIdle()
}

// wsSet tracks proxied WebSockets of one slot.
type wsSet struct{ set syncset.Set[*wsProxy] }

func (w *wsSet) add(p *wsProxy)    { w.set.Add(p) }
func (w *wsSet) remove(p *wsProxy) { w.set.Remove(p) }
func (w *wsSet) len() int          { return w.set.Len() }
func (w *wsSet) list() []*wsProxy  { return w.set.List() }
