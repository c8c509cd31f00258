package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/edge-server/edge/internal/config"
)

func init() { register("run", "run the edge server in the foreground (systemd runs this)", cmdRun) }

// service is one long-running part of edge (proxy, chat, certificates, metrics).
// Start must not block; Shutdown stops accepting and finishes in-flight work until ctx ends.
type service interface {
	Name() string
	Start() error
	Shutdown(ctx context.Context) error
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "run [--config FILE] [--log-level LEVEL]", stdout)
	path := fs.String("config", defaultConfigPath, "config file")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	grace := fs.Duration("shutdown-timeout", 30*time.Second, "how long SIGTERM waits for in-flight work")
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	if code, done := noExtraArgs(fs, stderr); done {
		return code
	}
	log, err := newLogger(*level, os.Stdout)
	if err != nil {
		fmt.Fprintf(stderr, "edge run: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "edge run: refusing to start:\n%v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	_, stopPprof := startPprof(log)
	defer stopPprof()
	if err := serve(ctx, cfg, log, *grace); err != nil {
		log.Error("edge stopped with an error", zap.Error(err))
		return 1
	}
	return 0
}

// serve builds and starts every service, waits for ctx to end, then shuts them down in
// reverse order within grace.
func serve(ctx context.Context, cfg *config.Config, log *zap.Logger, grace time.Duration) error {
	d, err := newOpsDaemon(cfg, log)
	if err != nil {
		return err
	}
	services, err := buildServices(cfg, log, d)
	if err != nil {
		return err
	}
	services = append(d.services(), services...)
	started := make([]service, 0, len(services))
	var startErr error
	for _, s := range services {
		if err := s.Start(); err != nil {
			startErr = fmt.Errorf("starting %s: %w", s.Name(), err)
			break
		}
		started = append(started, s)
	}
	if startErr == nil {
		log.Info("edge is running", zap.String("config", cfg.Path), zap.String("version", buildVersion()))
		d.ready(ctx)
		<-ctx.Done()
		d.stopping()
		log.Info("shutting down", zap.Duration("grace", grace))
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	errs := []error{startErr}
	for i := len(started) - 1; i >= 0; i-- {
		if err := started[i].Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s: %w", started[i].Name(), err))
		}
	}
	return errors.Join(errs...)
}
