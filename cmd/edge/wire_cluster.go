package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/cluster"
	"github.com/edge-server/edge/internal/config"
	"github.com/edge-server/edge/proxy"
	edgetls "github.com/edge-server/edge/tls"
)

// fleetWiring joins this instance to a fleet (the cluster: section): one pool on the
// fleet database shared by the certificate storage, the registry, the fleet colors,
// the chat secret and chat presence. Without cluster.database_url there is none and
// edge runs alone on its state_dir.
type fleetWiring struct {
	log   *zap.Logger
	name  string
	pool  *pgxpool.Pool
	fleet *cluster.Fleet
	local *fleetLocal
}

// fleetTimeout bounds the database work edge does while starting (schema, secret).
const fleetTimeout = 10 * time.Second

func newFleetWiring(dbURL, name string, heartbeat time.Duration, log *zap.Logger) (*fleetWiring, error) {
	if dbURL == "" {
		return nil, nil
	}
	pcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("cluster.database_url: %w", err)
	}
	pcfg.MaxConns = 8
	if pcfg.ConnConfig.ConnectTimeout == 0 || pcfg.ConnConfig.ConnectTimeout > 5*time.Second {
		pcfg.ConnConfig.ConnectTimeout = 5 * time.Second // a black-holed database must not hang a heartbeat
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg) // connects lazily
	if err != nil {
		return nil, fmt.Errorf("cluster.database_url: %w", err)
	}
	w := &fleetWiring{log: log, pool: pool, local: &fleetLocal{}}
	w.fleet, err = cluster.New(cluster.Config{Pool: pool, Name: name, Version: buildVersion(), Heartbeat: heartbeat}, w.local, log)
	if err != nil {
		pool.Close()
		return nil, err
	}
	w.name = w.fleet.Instance()
	return w, nil
}

// certStorage is the certificate storage every instance shares.
func (w *fleetWiring) certStorage() *edgetls.PostgresStorage {
	ctx, cancel := context.WithTimeout(context.Background(), fleetTimeout)
	defer cancel()
	s, _ := edgetls.NewPostgresStorage(ctx, edgetls.PostgresStorageConfig{Pool: w.pool, Holder: w.name}, w.log)
	return s // the error is only a nil pool, which cannot happen here
}

// chatSecret is the token key every instance shares (so a token from one is accepted
// by all), created by the first instance that asks.
func (w *fleetWiring) chatSecret() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), fleetTimeout)
	defer cancel()
	raw, err := w.fleet.Secret(ctx, "chat", 32)
	if err != nil {
		return nil, err
	}
	return []byte(hex.EncodeToString(raw)), nil
}

// joinConfig points the certificate manager and the chat at the fleet: certificates
// in Postgres, the fleet's chat secret (unless chat.secret is set), fleet presence.
func (w *fleetWiring) joinConfig(cfg *config.Config) {
	cfg.TLS.Storage = w.certStorage()
	cc := &cfg.Chat
	cc.Metrics = countingChatMetrics{cc.Metrics, &w.local.chatConns}
	cc.Presence = w.fleet.Presence()
	cc.InstanceID = w.name
	if cfg.ChatEnabled && len(cc.Secret) == 0 {
		secret, err := w.chatSecret()
		if err != nil {
			w.log.Error("cannot read the fleet's chat secret; using this instance's own, so its tokens are not accepted by the others until a restart with the database up",
				zap.Error(err))
			return
		}
		cc.Secret = secret
	}
}

// proxyConfig routes the admin API's switches through the fleet and adds the fleet
// to GET /status. The proxy itself is attached after proxy.New.
func (w *fleetWiring) proxyConfig(pc *proxy.Config) {
	pc.Fleet = fleetSwitcher{w}
	pc.FleetStatus = w.status
}

func (w *fleetWiring) attach(p *proxy.Server, certs *edgetls.Manager, hub *chat.Hub) {
	w.local.p = p
	w.local.certs = certs
	if hub != nil {
		w.fleet.Presence().OnChange(hub.PresenceChanged)
	}
}

// status is GET /status's "instances" and "fleet".
func (w *fleetWiring) status() (any, any) {
	up, why := w.fleet.DatabaseUp()
	fleet := map[string]any{"instance": w.name, "database_up": up}
	if why != "" {
		fleet["database_error"] = why
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ins, err := w.fleet.Instances(ctx)
	if err != nil {
		fleet["instances_error"] = err.Error()
		return nil, fleet
	}
	return ins, fleet
}

// Name, Start and Shutdown make the fleet a service: it starts before the proxy's
// listeners (the fleet's colors apply before the first request) and stops after them.
func (w *fleetWiring) Name() string { return "cluster" }

func (w *fleetWiring) Start() error {
	ctx, cancel := context.WithTimeout(context.Background(), fleetTimeout)
	defer cancel()
	if err := w.fleet.Start(ctx); err != nil {
		// Serving matters more than the fleet: run on the local state, keep trying.
		w.log.Error("cannot join the fleet now; serving the local state and retrying", zap.Error(err))
	}
	return nil
}

func (w *fleetWiring) Shutdown(ctx context.Context) error {
	err := w.fleet.Shutdown(ctx)
	closed := make(chan struct{})
	go func() { w.pool.Close(); close(closed) }()
	select {
	case <-closed:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("closing the fleet database pool: %w", ctx.Err()))
	}
	return err
}

// fleetLocal is this instance as the fleet sees it.
type fleetLocal struct {
	p         *proxy.Server
	certs     *edgetls.Manager
	chatConns atomic.Int64
}

func (l *fleetLocal) Colors() map[string]string {
	if l.p == nil {
		return nil
	}
	return l.p.ActiveColors()
}

func (l *fleetLocal) Probe(ctx context.Context, app, color string) error {
	c, err := proxy.ParseColor(color)
	if err != nil {
		return err
	}
	return l.p.Probe(ctx, app, c)
}

func (l *fleetLocal) Apply(ctx context.Context, app, color string, flipped func()) (string, error) {
	c, err := proxy.ParseColor(color)
	if err != nil {
		return "", err
	}
	res, err := l.p.Follow(ctx, app, c, flipped)
	if err != nil {
		return "", err
	}
	return res.Message, nil
}

func (l *fleetLocal) Report() cluster.Report {
	var r cluster.Report
	if l.p == nil {
		return r
	}
	for _, a := range l.p.Status().Apps {
		r.Apps = append(r.Apps, cluster.AppReport{Name: a.Name, Active: a.Active,
			Healthy: map[string]bool{"blue": a.Slots.Blue.Healthy, "green": a.Slots.Green.Healthy}})
	}
	if l.certs != nil {
		r.Certificates = l.certs.Status()
	}
	r.ChatConnections = int(l.chatConns.Load())
	return r
}

// fleetSwitcher takes the admin API's switches fleet-wide.
type fleetSwitcher struct{ w *fleetWiring }

func (s fleetSwitcher) Switch(ctx context.Context, app string, color proxy.Color, timeout time.Duration) (any, error) {
	name, err := s.w.local.p.AppName(app)
	if err != nil {
		return nil, err
	}
	rep, err := s.w.fleet.Switch(ctx, name, color.String(), timeout)
	return rep, adminError(err)
}

func (s fleetSwitcher) Rollback(ctx context.Context, app string, timeout time.Duration) (any, error) {
	name, err := s.w.local.p.AppName(app)
	if err != nil {
		return nil, err
	}
	rep, err := s.w.fleet.Rollback(ctx, name, timeout)
	return rep, adminError(err)
}

// adminError gives a fleet refusal its admin API code and status.
func adminError(err error) error {
	var ce *cluster.Error
	if !errors.As(err, &ce) {
		return err
	}
	status := map[string]int{
		cluster.CodeDatabaseDown: 503, cluster.CodeUnhealthy: 409, cluster.CodeNoAnswer: 504,
		cluster.CodeConflict: 409, cluster.CodeUnknownApp: 400, cluster.CodeNoPrevious: 409, cluster.CodeBadRequest: 400,
	}[ce.Code]
	if status == 0 {
		status = 500
	}
	return proxy.NewError(ce.Code, status, ce.Message)
}

// countingChatMetrics counts open chat connections for the fleet report.
type countingChatMetrics struct {
	chat.Metrics
	n *atomic.Int64
}

func (m countingChatMetrics) Connections(delta int) {
	m.n.Add(int64(delta))
	m.Metrics.Connections(delta)
}
