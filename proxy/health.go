package proxy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// HealthConsumer is told when a color's health changes. The Server implements it to
// log and count; tests may supply their own through the unexported hook.
type HealthConsumer interface {
	HealthChanged(app string, c Color, addr string, healthy bool, reason string)
}

// health runs active checks of one slot and keeps its rise/fall state. Passive
// failures seen while proxying feed the same state.
type health struct {
	app      string
	color    Color
	addr     string
	cfg      HealthConfig
	hc       *fasthttp.HostClient
	consumer HealthConsumer

	healthy atomic.Bool

	// checking serializes checks of this replica: the loop's and a switch's probe
	// never overlap, however long the timeout is against the interval.
	checking sync.Mutex

	mu        sync.Mutex
	known     bool // a first result decided the state directly
	passes    int
	fails     int
	lastErr   string
	lastCheck time.Time

	startOnce sync.Once
	stopOnce  sync.Once
	stopCh    chan struct{}
	wg        sync.WaitGroup
}

func newHealth(s *slot, cfg HealthConfig) *health {
	return &health{
		app: s.app, color: s.color, addr: s.addr, cfg: cfg,
		hc: &fasthttp.HostClient{
			Addr:                     s.addr,
			MaxConns:                 2,
			NoDefaultUserAgentHeader: true,
			MaxResponseBodySize:      64 << 10,
			MaxIdleConnDuration:      max(cfg.Interval*2, 5*time.Second),
		},
		stopCh: make(chan struct{}),
	}
}

// check does one GET of the health path; any 2xx or 3xx passes.
func (h *health) check(ctx context.Context) error {
	h.checking.Lock()
	defer h.checking.Unlock()
	timeout := h.cfg.Timeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = time.Until(d)
	}
	if timeout <= 0 {
		return errNoTimeForCheck
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(h.cfg.Path)
	req.Header.SetHost(h.addr)
	req.Header.SetUserAgent("edge-health-check")
	if err := h.hc.DoTimeout(req, resp, timeout); err != nil {
		return describeUpstreamErr(err, timeout)
	}
	if code := resp.StatusCode(); code < 200 || code > 399 {
		return fmt.Errorf("GET %s answered %d", h.cfg.Path, code)
	}
	return nil
}

// describeUpstreamErr turns dial and timeout errors into short operator sentences.
func describeUpstreamErr(err error, timeout time.Duration) error {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("connection refused")
	case errors.Is(err, syscall.ECONNRESET):
		return errors.New("connection reset")
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return errors.New("host unreachable")
	case isTimeout(err):
		return fmt.Errorf("no answer within %s", timeout)
	case errors.Is(err, fasthttp.ErrConnectionClosed):
		return errors.New("the connection was closed without an answer")
	}
	return err
}

// errNoTimeForCheck is a check that never ran: its deadline had passed before it
// started (a loaded machine may start a check's goroutine late).
var errNoTimeForCheck = fmt.Errorf("no time was left for a health check: %w", context.DeadlineExceeded)

// record feeds one result (nil = pass) into the rise/fall state machine. A check
// that never ran says nothing about the upstream and is not recorded.
func (h *health) record(err error) {
	if errors.Is(err, errNoTimeForCheck) {
		return
	}
	h.mu.Lock()
	h.lastCheck = time.Now()
	was := h.healthy.Load()
	now := was
	if err == nil {
		h.passes++
		h.fails = 0
		if !h.known || h.passes >= h.cfg.Rise {
			now = true
		}
	} else {
		h.fails++
		h.passes = 0
		h.lastErr = err.Error()
		if !h.known || h.fails >= h.cfg.Fall {
			now = false
		}
	}
	first := !h.known
	h.known = true
	h.healthy.Store(now)
	reason := ""
	if err != nil {
		reason = h.lastErr
	}
	h.mu.Unlock()
	if (first || now != was) && h.consumer != nil {
		h.consumer.HealthChanged(h.app, h.color, h.addr, now, reason)
	}
}

// snapshot returns the state for status output.
func (h *health) snapshot() (healthy, known bool, lastErr string, lastCheck time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.healthy.Load(), h.known, h.lastErr, h.lastCheck
}

// probe checks the target now: it succeeds after `rise` consecutive passes, trying
// until ctx ends, and otherwise returns the last failure.
func (h *health) probe(ctx context.Context) error {
	gap := min(h.cfg.Interval, 250*time.Millisecond)
	passes := 0
	var last error
	for {
		err := h.check(ctx)
		if ctx.Err() != nil && err != nil {
			if last == nil {
				last = err
			}
			return h.explain(last)
		}
		h.record(err)
		if err == nil {
			passes++
			if passes >= h.cfg.Rise {
				return nil
			}
		} else {
			passes = 0
			last = err
		}
		t := time.NewTimer(gap)
		select {
		case <-ctx.Done():
			t.Stop()
			if last == nil {
				last = fmt.Errorf("only %d of %d checks passed in time", passes, h.cfg.Rise)
			}
			return h.explain(last)
		case <-t.C:
		}
	}
}

// start runs checks every interval until stop.
// explain replaces a bare context error (the probe's time ran out before a check
// could finish, e.g. on a loaded machine) with what the checks last found, when the
// color is down: "GET /health answered 500" tells an operator more than "context
// deadline exceeded".
func (h *health) explain(err error) error {
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return err
	}
	if healthy, known, lastErr, _ := h.snapshot(); known && !healthy && lastErr != "" {
		return errors.New(lastErr)
	}
	return errors.New("no health check finished in time")
}

func (h *health) start() {
	h.startOnce.Do(func() {
		h.wg.Add(1)
		go h.loop()
	})
}

func (h *health) loop() {
	defer h.wg.Done()
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	h.mu.Lock()
	checkNow := !h.known // a slot added by a reload has not been checked yet
	h.mu.Unlock()
	for {
		if !checkNow {
			select {
			case <-h.stopCh:
				return
			case <-t.C:
			}
		}
		checkNow = false
		err := h.check(context.Background()) // bounded by the timeout once it runs, not while a probe's check does
		select {
		case <-h.stopCh:
			return
		default:
		}
		h.record(err)
	}
}

func (h *health) stop() {
	h.stopOnce.Do(func() { close(h.stopCh) })
	h.wg.Wait()
	h.hc.CloseIdleConnections()
}
