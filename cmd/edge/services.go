package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/internal/config"
	"github.com/edge-server/edge/proxy"
)

// buildServices turns a validated config into the services edge runs, in start order.
// The proxy, tls and chat packages never import each other; this is where they meet.
//
// Order matters: the chat starts first (migrations) and stops last (after the proxy
// stops accepting, it flushes its writer and closes sockets with 1001); the certificate
// manager starts after the proxy's listeners accept (ACME challenges are answered on
// them) and stops before them.
func buildServices(cfg *config.Config, log *zap.Logger, d *opsDaemon) ([]service, error) {
	cfg.Chat.Metrics = chatMetrics{d.metrics}
	fw, err := newFleetWiring(cfg.Cluster.DatabaseURL, cfg.Cluster.Name, cfg.Cluster.Heartbeat, log)
	if err != nil {
		return nil, err
	}
	if fw != nil {
		fw.joinConfig(cfg)
	}
	hub, err := chatHub(cfg, log)
	if err != nil {
		return nil, err
	}
	certs, err := tlsManager(cfg, log)
	if err != nil {
		return nil, err
	}
	pcfg := proxyConfig(cfg)
	var services []service
	if hub != nil {
		pcfg.Handlers = map[string]fasthttp.RequestHandler{"chat": hub.Handler()}
		pcfg.AdminHandlers = map[string]http.Handler{chat.AdminPrefix: hub.AdminHandler()} // admin socket only
		services = append(services, hub)
		d.reload.addStep("chat filter", func(next *config.Config) error { return hub.SetFilter(next.Chat.Filter) })
	}
	if certs != nil {
		pcfg.TLSConfig = certs.TLSConfig()
		pcfg.ACMEChallenge = certs.HandleHTTPChallenge
		pcfg.CertificateStatus = func() any { return certs.Status() }
	}
	pcfg.Reload = d.reload.reloadConfig
	pcfg.Metrics = d.metrics
	if fw != nil {
		fw.proxyConfig(&pcfg)
	}
	p, err := proxy.New(pcfg, log)
	if err != nil {
		return nil, err
	}
	if fw != nil {
		fw.attach(p, certs, hub)
		services = append(services, fw) // before the proxy: the fleet's colors apply before serving
	}
	d.reload.addProxy(p, pcfg)
	d.every(15*time.Second, func() {
		for _, a := range p.Status().Apps {
			d.metrics.ActiveColor(a.Name, a.Active)
		}
	})
	if certs != nil {
		own := newOwnCertWatcher(certs.SetOwnCertificates, log)
		if err := own.apply(cfg.OwnCerts); err != nil {
			return nil, fmt.Errorf("loading the sites' own certificates: %w", err)
		}
		d.reload.addStep("own certificates", func(next *config.Config) error { return own.apply(next.OwnCerts) })
		d.every(ownCertInterval, own.poll)
		d.reload.addCertificates(certs.SetHosts) // new hosts get certificates on reload
		certExpiry := func() {
			for _, c := range certs.Status() {
				if !c.NotAfter.IsZero() {
					d.metrics.CertExpiry(c.Name, c.NotAfter)
				}
			}
		}
		certExpiry() // own certificates are loaded already: export them from the start
		d.every(time.Minute, certExpiry)
	}
	services = append(services, p)
	if certs != nil {
		services = append(services, certs)
	}
	return services, nil
}

// proxyConfig completes the proxy section of the config with what cmd/edge owns:
// the state file under state_dir, the admin socket and the access log switch.
func proxyConfig(cfg *config.Config) proxy.Config {
	pc := cfg.Proxy
	pc.StateFile = filepath.Join(cfg.StateDir, "state.json")
	pc.AdminSocket = cfg.AdminSocket
	pc.AccessLog = cfg.AccessLog
	return pc
}

// chatMetrics adapts promMetrics to chat.Metrics (SendsFailed takes a chat.Code).
type chatMetrics struct{ *promMetrics }

func (m chatMetrics) SendsFailed(code chat.Code, n int) { m.ChatSendsFailed(string(code), n) }
