package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"go.uber.org/zap"
)

// startPprof serves net/http/pprof on the loopback address in $EDGE_PPROF (for example
// EDGE_PPROF=127.0.0.1:6060) when it is set. It is for profiling benchmarks only: the
// address must be a loopback one, and nothing is served when the variable is empty.
func startPprof(log *zap.Logger) {
	addr := os.Getenv("EDGE_PPROF")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Error("EDGE_PPROF must be a loopback host:port; profiling stays off", zap.String("addr", addr))
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof listener failed", zap.Error(err))
		}
	}()
	log.Warn("pprof is served (EDGE_PPROF); do not leave this on in production", zap.String("addr", addr))
}
