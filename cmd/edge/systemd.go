package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/edge-server/edge/internal/config"
)

// opsDaemon is what `edge run` does for systemd and for operators around the packages'
// services: socket activation, sd_notify, reload on SIGHUP / POST /reload, and the
// Prometheus endpoint. Wiring, in this order:
//
//	cfg, _ := loadConfig(path)
//	d, err := newOpsDaemon(cfg, log)     // takes LISTEN_FDS into cfg.Proxy.HTTP(S)Listener
//	services, err := buildServices(cfg, log, d)
//	    // pcfg.Reload = d.reload.reloadConfig; pcfg.Metrics = d.metrics
//	    // p := proxy.New(pcfg, …); d.reload.addProxy(p, pcfg)
//	    // chat: Config.Metrics = an adapter over d.metrics; d.every(…) polls
//	services = append(d.services(), services...)
//	… start them …
//	d.ready(ctx)                         // READY=1, SIGHUP → reload, d.every polls
//	<-ctx.Done(); d.stopping()           // STOPPING=1, then shut services down
type opsDaemon struct {
	log     *zap.Logger
	notify  *notifier
	metrics *promMetrics
	reload  *reloader
	server  *metricsServer // nil when metrics: ""
	hup     chan os.Signal
	polls   []poll
}

// poll is a function ready runs at once and then every interval (see every).
type poll struct {
	interval time.Duration
	fn       func()
}

// newOpsDaemon prepares the systemd side of edge before any service starts. It must run
// before the proxy is built, because it moves socket-activated listeners into cfg.
func newOpsDaemon(cfg *config.Config, log *zap.Logger) (*opsDaemon, error) {
	// Catch SIGHUP from now on: its default action would kill edge during start-up.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	if err := takeActivatedListeners(cfg, log); err != nil {
		signal.Stop(hup)
		return nil, err
	}
	n, err := newNotifier(os.Getenv)
	if err != nil {
		log.Warn("not notifying systemd", zap.Error(err))
	}
	m := newPromMetrics()
	m.configure(cfg)
	d := &opsDaemon{log: log, notify: n, metrics: m, reload: newReloader(cfg, log, n, m), hup: hup}
	if cfg.Metrics != "" {
		d.server = newMetricsServer(cfg.Metrics, m.registry(), log)
	}
	return d, nil
}

// services are the daemon's own services (the metrics endpoint); start them first.
func (d *opsDaemon) services() []service {
	if d.server == nil {
		return nil
	}
	return []service{d.server}
}

// every registers fn to run once when edge is ready and then every interval until it
// stops: copying state the packages do not push into metrics, e.g.
//
//	d.every(15*time.Second, func() { for _, a := range p.Status().Apps { d.metrics.ActiveColor(a.Name, a.Active) } })
//	d.every(time.Minute, func() { for _, c := range certs.Status() { d.metrics.CertExpiry(c.Name, c.NotAfter) } })
func (d *opsDaemon) every(interval time.Duration, fn func()) {
	d.polls = append(d.polls, poll{interval: interval, fn: fn})
}

// ready is called once every service started: systemd learns edge serves, SIGHUP
// reloads the config and the polls registered with every run, until ctx ends.
func (d *opsDaemon) ready(ctx context.Context) {
	go func() {
		defer signal.Stop(d.hup)
		d.reload.watch(ctx, d.hup)
	}()
	for _, p := range d.polls {
		go func() {
			t := time.NewTicker(p.interval)
			defer t.Stop()
			for {
				p.fn()
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	if err := d.notify.ready(serviceSummary(d.reload.config())); err != nil {
		d.log.Warn("sd_notify READY failed", zap.Error(err))
	}
}

// stopping tells systemd that edge is draining; call it when the stop signal arrives.
func (d *opsDaemon) stopping() {
	if err := d.notify.stopping(); err != nil {
		d.log.Warn("sd_notify STOPPING failed", zap.Error(err))
	}
}
