// Package cluster makes several edge instances on one Postgres behave as one fleet:
// an instance registry with heartbeats, the live color of every app (changed by a
// fleet-wide, health-gated switch and announced with LISTEN/NOTIFY), and shared
// secrets. It imports none of proxy, tls and chat: cmd/edge connects it to them
// through the Local interface.
//
// A Postgres outage never stops serving: every instance keeps the colors it last
// knew, and switches are refused with a sentence until the database answers again.
package cluster

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Config configures a Fleet. cmd/edge fills it from the `cluster:` section.
type Config struct {
	// Pool is the fleet database (it may be the chat's). Required; never closed by
	// the Fleet.
	Pool *pgxpool.Pool
	// Name is this instance's name, unique in the fleet. Default: the hostname.
	Name string
	// Version is reported in the registry (edge's build version). Default "devel".
	Version string
	// Heartbeat is how often this instance refreshes its registry row, reports its
	// status, and re-reads the fleet's colors (in case a notification was missed).
	// Default 2s.
	Heartbeat time.Duration
	// MissedHeartbeats is how many heartbeats an instance may miss before the others
	// count it as gone (it then takes no part in switches). Default 3.
	MissedHeartbeats int
	// OpTimeout bounds every database statement, so a database that stops answering
	// without closing the connection fails an operation instead of hanging it.
	// Default: Heartbeat, at least 1s.
	OpTimeout time.Duration
	// ProbeTimeout bounds each instance's health check during a switch when the
	// switch names no timeout. Default 10s.
	ProbeTimeout time.Duration
	// ApplyWait is how long a switch waits for every instance to confirm it flipped
	// and drained before reporting the ones that did not. Default 60s.
	ApplyWait time.Duration
}

// Defaults of Config.
const (
	DefaultHeartbeat        = 2 * time.Second
	DefaultMissedHeartbeats = 3
	DefaultProbeTimeout     = 10 * time.Second
	DefaultApplyWait        = 60 * time.Second
)

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Pool == nil {
		return cfg, errors.New("cluster: no database pool (cluster.database_url)")
	}
	if cfg.Name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return cfg, errors.New("cluster: no instance name given and the hostname is unknown; set cluster.name")
		}
		cfg.Name = h
	}
	if len(cfg.Name) > 200 {
		return cfg, errors.New("cluster: the instance name is longer than 200 characters")
	}
	if cfg.Version == "" {
		cfg.Version = "devel"
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.MissedHeartbeats <= 0 {
		cfg.MissedHeartbeats = DefaultMissedHeartbeats
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = max(cfg.Heartbeat, time.Second)
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = DefaultProbeTimeout
	}
	if cfg.ApplyWait <= 0 {
		cfg.ApplyWait = DefaultApplyWait
	}
	return cfg, nil
}

// Local is this instance as the fleet sees it; cmd/edge implements it on the proxy,
// the certificate manager and the chat hub. Methods are called from the Fleet's
// goroutines and must be safe for concurrent use.
type Local interface {
	// Colors is every app's live color here ("blue"/"green"), used to seed the fleet
	// state the first time an app is seen.
	Colors() map[string]string
	// Probe checks color of app from this instance, within ctx; nil means healthy.
	Probe(ctx context.Context, app, color string) error
	// Apply makes color live for app here without a health check of its own (the
	// fleet checked from every instance), calls flipped right after traffic moved,
	// then drains the old color and returns one sentence about it.
	Apply(ctx context.Context, app, color string, flipped func()) (string, error)
	// Report is this instance's status for the registry.
	Report() Report
}

// Report is what an instance publishes with each heartbeat.
type Report struct {
	Apps            []AppReport `json:"apps"`
	Certificates    any         `json:"certificates,omitempty"`
	ChatConnections int         `json:"chat_connections"`
}

// AppReport is one app on one instance.
type AppReport struct {
	Name    string          `json:"name"`
	Active  string          `json:"active"`
	Healthy map[string]bool `json:"healthy,omitempty"` // color → healthy as this instance sees it
}
