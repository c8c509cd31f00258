package main

import (
	"path/filepath"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/edge-server/edge/proxy"
)

// buildServices turns a validated config into the services edge runs, in start order.
// The proxy, tls and chat packages never import each other; this is where they meet.
//
// Order matters: the certificate manager starts after the proxy's listeners accept
// (ACME challenges are answered on them) and stops before them.
func buildServices(cfg *config, log *zap.Logger) ([]service, error) {
	certs, err := tlsManager(cfg, log)
	if err != nil {
		return nil, err
	}
	pcfg, err := proxyConfig(cfg, log)
	if err != nil {
		return nil, err
	}
	if certs != nil {
		pcfg.TLSConfig = certs.TLSConfig()
		pcfg.ACMEChallenge = certs.HandleHTTPChallenge
	}
	p, err := proxy.New(pcfg, log)
	if err != nil {
		return nil, err
	}
	services := []service{p}
	if certs != nil {
		services = append(services, certs)
	}
	return services, nil
}

// proxyConfig completes the proxy section of the config with what cmd/edge owns:
// the state file under state_dir, the admin socket, the access log switch, and the
// local handlers and TLS config other packages provide.
func proxyConfig(cfg *config, log *zap.Logger) (proxy.Config, error) {
	pc := cfg.Proxy
	pc.StateFile = filepath.Join(cfg.StateDir, "state.json")
	pc.AdminSocket = cfg.AdminSocket
	pc.AccessLog = cfg.AccessLog
	if cfg.ChatEnabled && pc.Handlers["chat"] == nil {
		// The chat package is wired here when it lands; until then its route says so.
		log.Warn("the chat is not part of this build yet; its route answers 503", zap.String("mount", cfg.Chat.Mount))
		if pc.Handlers == nil {
			pc.Handlers = map[string]fasthttp.RequestHandler{}
		}
		pc.Handlers["chat"] = chatUnavailable
	}
	return pc, nil
}

func chatUnavailable(ctx *fasthttp.RequestCtx) {
	ctx.Error("The chat is not available in this build of edge.\n", fasthttp.StatusServiceUnavailable)
}
