package proxy

import (
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Status is the admin API's GET /status answer.
type Status struct {
	Apps []AppStatus `json:"apps"`
	// Certificates is whatever Config.CertificateStatus returns (the tls package's
	// per-name status); absent when HTTPS is off.
	Certificates any `json:"certificates,omitempty"`
	// Instances and Fleet are what Config.FleetStatus returns; absent without a fleet.
	Instances any `json:"instances,omitempty"`
	Fleet     any `json:"fleet,omitempty"`
}

// AppStatus is one app.
type AppStatus struct {
	Name     string `json:"name"`
	Active   string `json:"active"`
	Previous string `json:"previous"` // "" before the first switch
	// Weight is the percentage of visitors a running canary sends to the other
	// color; 0 when none runs.
	Weight int `json:"weight"`
	// Paused: new requests are held; Held counts those waiting now, each up to MaxWait.
	Paused  bool   `json:"paused"`
	Held    int64  `json:"held"`
	MaxWait string `json:"max_wait,omitempty"`
	// Maintenance: requests are answered 503 with Message.
	Maintenance bool   `json:"maintenance"`
	Message     string `json:"message,omitempty"`
	Slots       Slots  `json:"slots"`
}

// Slots holds both colors, in the order people expect.
type Slots struct {
	Blue  SlotStatus `json:"blue"`
	Green SlotStatus `json:"green"`
}

// SlotStatus is one color of an app. Its top-level fields summarize the replicas, so
// that a color with one address reads as it did before replicas existed: Addr is the
// first replica, Healthy means every replica is healthy, Checked that every replica
// was checked, LastError the first replica's error that has one.
type SlotStatus struct {
	ReplicaStatus
	// HealthyReplicas counts the replicas that pass their checks.
	HealthyReplicas int             `json:"healthy_replicas"`
	Replicas        []ReplicaStatus `json:"replicas"`
}

// ReplicaStatus is one address of a color.
type ReplicaStatus struct {
	Addr       string `json:"addr"`
	Healthy    bool   `json:"healthy"`
	InFlight   int64  `json:"in_flight"`
	WebSockets int    `json:"websockets"`
	// Checked is false until the first health check finished.
	Checked   bool      `json:"checked"`
	LastError string    `json:"last_error,omitempty"`
	LastCheck time.Time `json:"last_check,omitzero"`
}

// Status reports every app, its live color, and health and load of both colors.
func (s *Server) Status() Status {
	t := s.table.Load()
	st := Status{Apps: make([]AppStatus, 0, len(t.order))}
	for _, a := range t.order {
		cur := a.state.get()
		as := AppStatus{Name: a.name, Active: a.activeColor().String(), Weight: a.weight(),
			Paused: cur.Paused, Held: a.state.gate.held.Load(), Maintenance: cur.Maintenance}
		if p, ok := a.previousColor(); ok {
			as.Previous = p.String()
		}
		if cur.Paused {
			as.MaxWait = orDur(cur.MaxWait, DefaultPauseMaxWait).String()
		}
		if cur.Maintenance {
			as.Message = cur.Message
			if as.Message == "" {
				as.Message = DefaultMaintenanceMessage
			}
		}
		as.Slots.Blue = poolStatus(a.pools[Blue])
		as.Slots.Green = poolStatus(a.pools[Green])
		st.Apps = append(st.Apps, as)
	}
	if s.cfg.CertificateStatus != nil {
		st.Certificates = s.cfg.CertificateStatus()
	}
	if s.cfg.FleetStatus != nil {
		st.Instances, st.Fleet = s.cfg.FleetStatus()
	}
	return st
}

func poolStatus(p *pool) SlotStatus {
	out := SlotStatus{ReplicaStatus: ReplicaStatus{Addr: p.replicas[0].addr, Healthy: true, Checked: true, InFlight: max(p.inFlight.Load(), 0)}}
	for _, sl := range p.replicas {
		healthy, known, lastErr, lastCheck := sl.health.snapshot()
		r := ReplicaStatus{Addr: sl.addr, Healthy: healthy, Checked: known, InFlight: max(sl.inFlight.Load(), 0),
			WebSockets: sl.ws.len(), LastError: lastErr, LastCheck: lastCheck}
		out.Replicas = append(out.Replicas, r)
		out.Healthy = out.Healthy && healthy
		out.Checked = out.Checked && known
		out.WebSockets += r.WebSockets
		if healthy {
			out.HealthyReplicas++
		}
		if out.LastError == "" && lastErr != "" && !healthy {
			out.LastError = lastErr
		}
		if lastCheck.After(out.LastCheck) {
			out.LastCheck = lastCheck
		}
	}
	if out.LastError == "" && len(p.replicas) == 1 {
		out.LastError = out.Replicas[0].LastError
	}
	return out
}

// Reload swaps in a new routing table built from cfg: sites, routes, apps and local
// handlers. Connections stay open; apps that still exist keep their live color,
// health state and pools (a pool is replaced only when its address or health settings
// changed). Listeners, TLS, limits, the state file and the admin socket are fixed at
// start; changes to them are ignored with a warning. A non-nil cfg.Reload replaces
// the admin API's reload callback.
func (s *Server) Reload(cfg Config) error {
	cfg = withDefaults(cfg)
	if err := cfg.check(); err != nil {
		return fmt.Errorf("proxy config: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping.Load() {
		return fmt.Errorf("edge is shutting down")
	}
	old := s.cfg
	if cfg.HTTPAddr != old.HTTPAddr || cfg.HTTPSAddr != old.HTTPSAddr || cfg.Limits != old.Limits ||
		cfg.StateFile != old.StateFile || cfg.AdminSocket != old.AdminSocket || cfg.HSTS != old.HSTS {
		s.log.Warn("listen addresses, limits, hsts, state file and admin socket change only on restart")
	}
	next := old
	next.Apps, next.Sites, next.Handlers = cfg.Apps, cfg.Sites, cfg.Handlers
	next.SwitchTimeout = cfg.SwitchTimeout
	if cfg.Reload != nil {
		next.Reload = cfg.Reload
	}
	prev := s.table.Load()
	b := &tableBuilder{cfg: &next, log: s.log, prev: prev, restored: s.state.snapshot(), consumer: s}
	t, err := b.build()
	if err != nil {
		return fmt.Errorf("proxy config: %w", err)
	}
	inUse := map[*slot]bool{}
	for _, sl := range t.slots() {
		inUse[sl] = true
	}
	s.table.Store(t)
	if s.started {
		for _, sl := range t.slots() {
			sl.health.start()
		}
	}
	kept := s.retired[:0]
	for _, sl := range s.retired {
		if sl.ws.len() > 0 || sl.inFlight.Load() > 0 {
			kept = append(kept, sl)
		}
	}
	s.retired = kept
	for _, sl := range prev.slots() {
		if !inUse[sl] {
			go sl.stop()
			s.retired = append(s.retired, sl)
		}
	}
	s.log.Info("routing table reloaded", zap.Int("apps", len(t.order)), zap.Int("sites", len(next.Sites)))
	return nil
}
