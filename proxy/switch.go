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
	Weight  int    `json:"weight"`  // the canary weight after this switch; 0 when none runs
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

// SwitchOptions are the knobs of one switch.
type SwitchOptions struct {
	// Timeout bounds the health checks of the target. 0: Config.SwitchTimeout.
	Timeout time.Duration
	// Weight, 1–99, starts or changes a canary: that percentage of visitors goes to
	// the color named, the rest stays on the live one, nothing drains. 0: a full switch
	// (which also completes a running canary).
	Weight int
	// MinHealthy is how many of the target's replicas must pass; 0: all of them.
	MinHealthy int
}

// Switch is SwitchWith with only a timeout: a full switch.
func (s *Server) Switch(ctx context.Context, appName string, color Color, timeout time.Duration) (*SwitchResult, error) {
	return s.SwitchWith(ctx, appName, color, SwitchOptions{Timeout: timeout})
}

// SwitchWith moves app's traffic to color after the target's replicas pass `rise`
// fresh health checks within the timeout. A full switch then drains the old color
// and returns when draining is over; a canary (Weight > 0) returns at once. Naming
// the live color while a canary runs ends the canary and drains the canary color.
// An unhealthy target is refused with an *Error of code CodeUnhealthy and traffic
// stays where it was. Switches of one app run one at a time; ctx bounds waiting for
// another switch and the health checks, not the drain.
func (s *Server) SwitchWith(ctx context.Context, appName string, color Color, o SwitchOptions) (*SwitchResult, error) {
	if o.Weight < 0 || o.Weight > MaxWeight {
		return nil, badRequest("weight %d is outside 1 to %d (percent of visitors on %s)", o.Weight, MaxWeight, color)
	}
	a, release, err := s.lockApp(ctx, appName)
	if err != nil {
		return nil, err
	}
	defer release()
	target := a.pools[color]
	if n := len(target.replicas); o.MinHealthy < 0 || o.MinHealthy > n {
		return nil, badRequest("min_healthy %d is outside 1 to %d, the number of %s replicas of %s", o.MinHealthy, n, color, a.name)
	}
	if o.Timeout <= 0 {
		o.Timeout = s.table.Load().switchTimeout
	}
	cur := a.state.get()
	from := cur.Active
	res := &SwitchResult{App: a.name, From: from.String(), To: color.String()}
	if from == color {
		if o.Weight > 0 {
			return nil, badRequest("%s is already live for %s; a canary sends part of the visitors to the color that is not live (%s)", color, a.name, color.Other())
		}
		if cur.Weight == 0 {
			return s.confirmLive(ctx, a, res, o)
		}
		return s.endCanary(a, cur, res)
	}
	pctx, cancel := context.WithTimeout(ctx, o.Timeout)
	err = probePool(pctx, target, o.MinHealthy)
	cancel()
	if err != nil {
		s.cfg.Metrics.Switched(a.name, from.String(), color.String(), false)
		msg := fmt.Sprintf("%s (%s) %v; traffic stays on %s", color, target.addrs(), err, from)
		if cur.Weight > 0 {
			msg = fmt.Sprintf("%s (%s) %v; the canary stays at %d%%", color, target.addrs(), err, cur.Weight)
		}
		s.log.Warn("switch refused", zap.String("app", a.name), zap.String("reason", msg))
		return nil, errorf(CodeUnhealthy, 409, msg)
	}
	next := cur
	next.ChangedAt = time.Now()
	if o.Weight > 0 {
		next.Weight = o.Weight
		if err := s.applyState(a, next); err != nil {
			return nil, s.stateWriteRefused(a, from, color, err)
		}
		res.Changed = cur.Weight != o.Weight
		res.Weight = o.Weight
		res.Message = fmt.Sprintf("%s sends %d%% of visitors to %s (%s); %s serves the rest", a.name, o.Weight, color, target.addrs(), from)
		s.log.Info("canary", zap.String("app", a.name), zap.String("to", color.String()), zap.Int("weight", o.Weight),
			zap.Int("was", cur.Weight))
		return res, nil
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

// flip records color as app's live color (ending a canary), moves traffic, calls
// flipped (if any), drains from and reports. The caller holds the app's switch lock
// and has checked color's health (or the fleet has, from every instance).
func (s *Server) flip(a *app, from, color Color, res *SwitchResult, flipped func()) (*SwitchResult, error) {
	cur := a.state.get()
	target := a.pools[color]
	next := cur
	next.ChangedAt = time.Now()
	old := a.pools[from]
	next.Active, next.Previous, next.HasPrevious, next.Weight = color, from, true, 0
	doneBefore := old.done.Load()
	inFlightAtFlip := old.inFlight.Load()
	if err := s.applyState(a, next); err != nil {
		return nil, s.stateWriteRefused(a, from, color, err)
	}
	s.cfg.Metrics.Switched(a.name, from.String(), color.String(), true)
	if flipped != nil {
		flipped()
	}
	s.log.Info("switched", zap.String("app", a.name), zap.String("from", from.String()), zap.String("to", color.String()),
		zap.String("upstream", target.addrs()), zap.Int64("old_in_flight", inFlightAtFlip), zap.Int("canary_weight_was", cur.Weight))
	d := s.drain(old, a.cfg.Drain, doneBefore)
	res.Changed = true
	res.Drain = d
	res.Message = fmt.Sprintf("%s now serves from %s (%s); %s drained in %s: %d requests finished, %d cut, %d websockets closed",
		a.name, color, target.addrs(), from, d.DurationText, d.Finished, d.Cut, d.WebSocketsClosed)
	s.logDrain(a, from, d)
	return res, nil
}

// endCanary sends every visitor back to the live color and drains the canary color.
func (s *Server) endCanary(a *app, cur AppState, res *SwitchResult) (*SwitchResult, error) {
	canary := a.pools[cur.Active.Other()]
	next := cur
	next.Weight, next.ChangedAt = 0, time.Now()
	doneBefore := canary.done.Load()
	if err := s.applyState(a, next); err != nil {
		return nil, s.stateWriteRefused(a, cur.Active.Other(), cur.Active, err)
	}
	s.cfg.Metrics.Switched(a.name, canary.cname, cur.Active.String(), true)
	s.log.Info("canary ended", zap.String("app", a.name), zap.String("live", cur.Active.String()), zap.Int("weight_was", cur.Weight))
	d := s.drain(canary, a.cfg.Drain, doneBefore)
	res.From, res.Changed, res.Drain = canary.cname, true, d
	res.Message = fmt.Sprintf("%s canary ended: every visitor is on %s again; %s drained in %s: %d requests finished, %d cut, %d websockets closed",
		a.name, cur.Active, canary.cname, d.DurationText, d.Finished, d.Cut, d.WebSocketsClosed)
	s.logDrain(a, canary.color, d)
	return res, nil
}

func (s *Server) logDrain(a *app, c Color, d *Drain) {
	s.log.Info("drain finished", zap.String("app", a.name), zap.String("color", c.String()),
		zap.Uint64("finished", d.Finished), zap.Int64("cut", d.Cut), zap.Int("websockets_closed", d.WebSocketsClosed),
		zap.Duration("took", d.Duration))
}

func (s *Server) stateWriteRefused(a *app, from, to Color, err error) error {
	s.cfg.Metrics.Switched(a.name, from.String(), to.String(), false)
	msg := fmt.Sprintf("cannot record the change in %s (%v); traffic stays on %s", s.cfg.StateFile, err, a.activeColor())
	if w := a.weight(); w > 0 {
		msg += fmt.Sprintf(" with %d%% of visitors on %s", w, a.activeColor().Other())
	}
	s.log.Error("switch refused", zap.String("app", a.name), zap.String("reason", msg))
	return errorf(CodeStateWrite, 500, msg)
}

// probePool checks every replica of p at once and succeeds as soon as need of them
// (0: all) passed `rise` fresh checks. The error reads after the color's name and
// addresses: "is not healthy: connection refused".
func probePool(ctx context.Context, p *pool, need int) error {
	n := len(p.replicas)
	if need <= 0 {
		need = n
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		sl  *slot
		err error
	}
	results := make(chan result, n)
	for _, sl := range p.replicas {
		go func() { results <- result{sl, sl.health.probe(ctx)} }()
	}
	passed := 0
	var failed []result
	for range n {
		r := <-results
		if r.err == nil {
			passed++
			if passed >= need {
				return nil
			}
			continue
		}
		failed = append(failed, r)
		if n-len(failed) < need {
			break
		}
	}
	if n == 1 {
		return fmt.Errorf("is not healthy: %v", failed[0].err)
	}
	why := ""
	for i, f := range failed {
		if i > 0 {
			why += "; "
		}
		why += f.sl.addr + ": " + f.err.Error()
	}
	return fmt.Errorf("has %d of %d replicas healthy, %d needed (%s)", n-len(failed), n, need, why)
}

// confirmLive answers a switch to the color that is already live. It succeeds only
// if that color passes the same gate a switch to it would (now, or after `rise` fresh
// checks within the timeout): a deploy script that asks for the live color must
// learn that it is down, not read "nothing to do".
func (s *Server) confirmLive(ctx context.Context, a *app, res *SwitchResult, o SwitchOptions) (*SwitchResult, error) {
	live := a.pools[a.activeColor()]
	need := o.MinHealthy
	if need <= 0 {
		need = len(live.replicas)
	}
	if live.healthyCount() < need {
		pctx, cancel := context.WithTimeout(ctx, o.Timeout)
		err := probePool(pctx, live, o.MinHealthy)
		cancel()
		if err != nil {
			msg := fmt.Sprintf("%s is already on %s (%s), but %s %v; switch to %s once it is ready",
				a.name, live.cname, live.addrs(), live.cname, err, live.color.Other())
			s.log.Warn("switch to the live color refused", zap.String("app", a.name), zap.String("reason", msg))
			return nil, errorf(CodeUnhealthy, 409, msg)
		}
	}
	res.Message = fmt.Sprintf("%s is already on %s (%s), which is healthy; nothing to do", a.name, live.cname, live.addrs())
	return res, nil
}

// Rollback switches app back to its previous color, or, while a canary runs, sends
// every visitor back to the live color.
func (s *Server) Rollback(ctx context.Context, appName string, timeout time.Duration) (*SwitchResult, error) {
	a, err := s.lookupApp(appName)
	if err != nil {
		return nil, err
	}
	if a.weight() > 0 {
		return s.SwitchWith(ctx, a.name, a.activeColor(), SwitchOptions{Timeout: timeout})
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
func (s *Server) drain(old *pool, period time.Duration, doneBefore uint64) *Drain {
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
		if inFlight == 0 && old.wsCount() == 0 {
			break
		}
		now := time.Now()
		if !now.Before(wsAt) {
			d.WebSocketsClosed += old.goAwayAll(reasonSwitch, deadline)
		}
		if !now.Before(deadline) || s.stopping.Load() {
			break
		}
		<-tick.C
	}
	d.Finished = old.done.Load() - doneBefore
	d.Cut = max(old.inFlight.Load(), 0)
	d.WebSocketsClosed += old.closeAll(reasonSwitch)
	old.closeIdle()
	if d.Cut > 0 {
		for _, sl := range old.replicas {
			sl.conns.killAll()
		}
	}
	d.Duration = time.Since(start)
	d.DurationText = d.Duration.Round(time.Millisecond).String()
	return d
}
