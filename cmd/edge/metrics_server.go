package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// metricsServer serves GET /metrics on cfg.Metrics (127.0.0.1:9180 by default). It is a
// service: Start binds synchronously, so a taken port fails `edge run` at once.
type metricsServer struct {
	addr string
	log  *zap.Logger
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

func newMetricsServer(addr string, reg *prometheus.Registry, log *zap.Logger) *metricsServer {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:            reg,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
		EnableOpenMetrics:   true,
	})))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "edge metrics: GET /metrics")
	})
	return &metricsServer{
		addr: addr,
		log:  log.Named("metrics"),
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    16 << 10,
		},
		done: make(chan struct{}),
	}
}

func (m *metricsServer) Name() string { return "metrics" }

func (m *metricsServer) Start() error {
	ln, err := net.Listen("tcp", m.addr)
	if err != nil {
		return fmt.Errorf("metrics: listening on %s: %w", m.addr, err)
	}
	m.ln = ln
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("metrics server stopped", zap.Error(err))
		}
	}()
	m.log.Info("serving Prometheus metrics", zap.String("url", "http://"+ln.Addr().String()+"/metrics"))
	return nil
}

// Addr is the bound address (useful with port 0).
func (m *metricsServer) Addr() string { return m.ln.Addr().String() }

func (m *metricsServer) Shutdown(ctx context.Context) error {
	if m.ln == nil {
		return nil
	}
	err := m.srv.Shutdown(ctx)
	<-m.done
	return err
}
