package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"go.uber.org/zap"

	"github.com/edge-server/edge/internal/config"
	edgetls "github.com/edge-server/edge/tls"
)

// tlsManager builds the certificate manager for every host under sites, or returns nil
// when HTTPS is off (listen.https: ""), in which case no CA is ever contacted.
func tlsManager(cfg *config.Config, log *zap.Logger) (*edgetls.Manager, error) {
	if cfg.Proxy.HTTPSAddr == "" {
		return nil, nil
	}
	tc := cfg.TLS
	tc.StorageDir = filepath.Join(cfg.StateDir, "certs")
	tc.Hosts = certHosts(cfg)
	host, port, err := splitPort(cfg.Proxy.HTTPSAddr)
	if err != nil {
		return nil, fmt.Errorf("listen.https: %w", err)
	}
	tc.ListenHost, tc.HTTPSPort = host, port
	if cfg.Proxy.HTTPAddr == "" {
		tc.DisableHTTPChallenge = true
	} else if _, tc.HTTPPort, err = splitPort(cfg.Proxy.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen.http: %w", err)
	}
	m, err := edgetls.New(tc, log)
	if err != nil {
		return nil, fmt.Errorf("setting up certificates: %w", err)
	}
	return m, nil
}

func splitPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number", p)
	}
	return host, port, nil
}
