package proxy

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// SwitchResult reports what a switch did. It is also the admin API's answer.
type SwitchResult struct {
	App     string `json:"app"`
	From    string `json:"from"`
	To      string `json:"to"`
	Changed bool   `json:"changed"` // false: the color was already live
	Message string `json:"message"` // one sentence for people
	Drain   *Drain `json:"drain,omitempty"`
}

// Drain is what happened to the old color's work after a switch.
type Drain struct {
	// Finished counts requests that were in flight at the flip and completed.
	Finished uint64 `json:"requests_finished"`
	// Cut counts requests (streamed responses included) still running at the drain
	// deadline; their upstream connections were closed.
	Cut int64 `json:"requests_cut"`
	// WebSocketsClosed counts proxied WebSockets edge closed: sent 1001 in the last
	// closeGrace of the period, or disconnected at the deadline.
	WebSocketsClosed int `json:"websockets_closed"`
	// Duration is how long draining took.
	Duration time.Duration `json:"duration_ns"`
	// DurationText is Duration for people, e.g. "1.2s".
	DurationText string `json:"duration"`
}

// lookupApp finds an app by name; "" is accepted when there is exactly one app.
func (s *Server) lookupApp(name string) (*app, error) {
	t := s.table.Load()
	if name == "" {
		if len(t.order) == 1 {
			return t.order[0], nil
		}
		if len(t.order) == 0 {
			return nil, errorf(CodeUnknownApp, 400, "no apps are configured")
		}
		return nil, errorf(CodeBadRequest, 400, fmt.Sprintf("there are %d apps; name one (%s)", len(t.order), appNames(t)))
	}
	a := t.apps[name]
	if a == nil {
		return nil, errorf(CodeUnknownApp, 400, fmt.Sprintf("there is no app named %q (apps: %s)", name, appNames(t)))
	}
	return a, nil
}

func appNames(t *table) string {
	out := ""
	for i, a := range t.order {
		if i > 0 {
			out += ", "
		}
		out += a.name
	}
	return out
}

// Switch moves app's traffic to color after the target passes `rise` fresh health
// checks within timeout (0: Config.SwitchTimeout). It then drains the old color and
// returns when draining is over. An unhealthy target is refused with an *Error of
// code CodeUnhealthy and traffic stays where it was; so is a switch to the live color
// while it is unhealthy (see confirmLive). Switches of one app run one at
// a time; ctx bounds waiting for another switch and the health checks, not the drain.
func (s *Server) Switch(ctx context.Context, appName string, color Color, timeout time.Duration) (*SwitchResult, error) {
	a, release, err := s.lockApp(ctx, appName)
	if err != nil {
		return nil, err
	}
	defer release()
	from := a.activeColor()
	res := &SwitchResult{App: a.name, From: from.String(), To: color.String()}
	if timeout <= 0 {
		timeout = s.table.Load().switchTimeout
	}
	if from == color {
		return s.confirmLive(ctx, a, res, timeout)
	}
	target := a.slots[color]
	pctx, cancel := context.WithTimeout(ctx, timeout)
	err = target.health.probe(pctx)
	cancel()
	if err != nil {
		s.cfg.Metrics.Switched(a.name, from.String(), color.String(), false)
		msg := fmt.Sprintf("%s (%s) is not healthy: %v; traffic stays on %s", color, target.addr, err, from)
		s.log.Warn("switch refused", zap.String("app", a.name), zap.String("reason", msg))
		return nil, errorf(CodeUnhealthy, 409, msg)
	}
	return s.flip(a, from, color, res, nil)
}

// lockApp finds app and takes its switch lock (switches of one app run one at a
// time); the caller must call release.
func (s *Server) lockApp(ctx context.Context, appName string) (a *app, release func(), err error) {
	if s.stopping.Load() {
		return nil, nil, errorf(CodeShuttingDown, 503, "edge is shutting down")
	}
	if a, err = s.lookupApp(appName); err != nil {
		return nil, nil, err
	}
	if err := a.state.acquire(ctx); err != nil {
		return nil, nil, errorf(CodeBusy, 409, fmt.Sprintf("gave up waiting for another switch of %s to finish: %v", a.name, err))
	}
	release = a.state.release // the state that was locked, even if a reload replaced the app
	// Re-read the app under the lock: a reload may have replaced it meanwhile.
	if a, err = s.lookupApp(a.name); err != nil {
		release()
		return nil, nil, err
	}
	return a, release, nil
}

// flip records color as app's live color, moves traffic, calls flipped (if any),
// drains from and reports. The caller holds the app's switch lock and has checked
// color's health (or the fleet has, from every instance).
func (s *Server) flip(a *app, from, color Color, res *SwitchResult, flipped func()) (*SwitchResult, error) {
	target, old := a.slots[color], a.slots[from]
	saved := savedApp{active: color, previous: int32(from), changedAt: time.Now()}
	if err := s.state.save(a.name, saved); err != nil {
		s.cfg.Metrics.Switched(a.name, from.String(), color.String(), false)
		msg := fmt.Sprintf("cannot record the switch in %s (%v); traffic stays on %s", s.cfg.StateFile, err, from)
		s.log.Error("switch refused", zap.String("app", a.name), zap.String("reason", msg))
		return nil, errorf(CodeStateWrite, 500, msg)
	}
	doneBefore := old.done.Load()
	inFlightAtFlip := old.inFlight.Load()
	a.state.previous.Store(int32(from))
	a.state.active.Store(uint32(color))
	s.cfg.Metrics.Switched(a.name, from.String(), color.String(), true)
	if flipped != nil {
		flipped()
	}
	s.log.Info("switched", zap.String("app", a.name), zap.String("from", from.String()), zap.String("to", color.String()),
		zap.String("upstream", target.addr), zap.Int64("old_in_flight", inFlightAtFlip))
	d := s.drain(old, a.cfg.Drain, doneBefore)
	res.Changed = true
	res.Drain = d
	res.Message = fmt.Sprintf("%s now serves from %s (%s); %s drained in %s: %d requests finished, %d cut, %d websockets closed",
		a.name, color, target.addr, from, d.DurationText, d.Finished, d.Cut, d.WebSocketsClosed)
	s.log.Info("drain finished", zap.String("app", a.name), zap.String("color", from.String()),
		zap.Uint64("finished", d.Finished), zap.Int64("cut", d.Cut), zap.Int("websockets_closed", d.WebSocketsClosed),
		zap.Duration("took", d.Duration))
	return res, nil
}

// confirmLive answers a switch to the color that is already live. It succeeds only
// if that color is healthy (now, or after passing `rise` fresh checks within
// timeout): a deploy script that asks for the live color must learn that it is down,
// not read "nothing to do".
func (s *Server) confirmLive(ctx context.Context, a *app, res *SwitchResult, timeout time.Duration) (*SwitchResult, error) {
	live := a.slots[a.activeColor()]
	if healthy, _, _, _ := live.health.snapshot(); !healthy {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := live.health.probe(pctx)
		cancel()
		if err != nil {
			msg := fmt.Sprintf("%s is already on %s (%s), but %s is not healthy: %v; switch to %s once it is ready",
				a.name, live.cname, live.addr, live.cname, err, live.color.Other())
			s.log.Warn("switch to the live color refused", zap.String("app", a.name), zap.String("reason", msg))
			return nil, errorf(CodeUnhealthy, 409, msg)
		}
	}
	res.Message = fmt.Sprintf("%s is already on %s (%s), which is healthy; nothing to do", a.name, live.cname, live.addr)
	return res, nil
}

// Rollback switches app back to its previous color.
func (s *Server) Rollback(ctx context.Context, appName string, timeout time.Duration) (*SwitchResult, error) {
	a, err := s.lookupApp(appName)
	if err != nil {
		return nil, err
	}
	prev, ok := a.previousColor()
	if !ok {
		return nil, errorf(CodeNoPrevious, 409, fmt.Sprintf("%s has never been switched, so there is nothing to roll back to; it serves from %s", a.name, a.activeColor()))
	}
	return s.Switch(ctx, a.name, prev, timeout)
}

// drain waits for the old color's in-flight requests to finish and its WebSockets to
// close, until the app's drain period ends; then it cuts what is left. The period is
// the bound: proxied WebSockets are asked to go away closeGrace before its end, so
// their close handshake fits inside it, and whatever is still open at the end
// (requests, streams, WebSockets whose peers do not answer or do not read) is cut at
// once. Idle keep-alive connections to the old upstream are closed as soon as
// nothing is in flight.
func (s *Server) drain(old *slot, period time.Duration, doneBefore uint64) *Drain {
	start := time.Now()
	deadline := start.Add(period)
	wsAt := deadline.Add(-closeGrace(period))
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	idleClosed := false
	d := &Drain{}
	for {
		inFlight := old.inFlight.Load()
		if inFlight == 0 && !idleClosed {
			old.closeIdle()
			idleClosed = true
		}
		if inFlight == 0 && old.ws.len() == 0 {
			break
		}
		now := time.Now()
		if !now.Before(wsAt) {
			d.WebSocketsClosed += old.ws.goAwayAll(reasonSwitch, deadline)
		}
		if !now.Before(deadline) || s.stopping.Load() {
			break
		}
		<-tick.C
	}
	d.Finished = old.done.Load() - doneBefore
	d.Cut = max(old.inFlight.Load(), 0)
	d.WebSocketsClosed += old.ws.closeAll(reasonSwitch)
	old.closeIdle()
	if d.Cut > 0 {
		old.conns.killAll()
	}
	d.Duration = time.Since(start)
	d.DurationText = d.Duration.Round(time.Millisecond).String()
	return d
}
