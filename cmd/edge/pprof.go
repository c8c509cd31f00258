package main

import (
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"go.uber.org/zap"
)

// pprofEnv names the environment variable that turns on Go's profiling endpoints for
// `edge run`: EDGE_PPROF=127.0.0.1:6060 serves /debug/pprof/ on that address. It is
// off unless set, and it refuses any address that is not loopback, since profiles
// reveal memory contents. It is a tool for benchmarking (docs/benchmarks.md).
const pprofEnv = "EDGE_PPROF"

// startPprof starts the profiling listener when EDGE_PPROF is set and returns its
// address and a stop function ("" and a no-op when off). Failures are logged, never
// fatal.
func startPprof(log *zap.Logger) (string, func()) {
	addr := os.Getenv(pprofEnv)
	if addr == "" {
		return "", func() {}
	}
	log = log.Named("pprof")
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Warn("ignoring "+pprofEnv+": it must be a loopback IP and port", zap.String("value", addr))
		return "", func() {}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Warn("cannot listen for "+pprofEnv, zap.String("addr", addr), zap.Error(err))
		return "", func() {}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("profiling endpoints listening", zap.String("addr", ln.Addr().String()))
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }
}
