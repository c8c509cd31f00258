package main

import (
	"time"

	"gopkg.in/yaml.v3"
)

// clusterSection is the cluster: section (docs/scale-out.md). Off by default: a
// single VM needs no database.
type clusterSection struct {
	DatabaseURL string        // "" = no fleet
	Name        string        // default: the hostname (filled by cluster.New)
	Heartbeat   time.Duration // default 2s
}

// Bounds of cluster.heartbeat: faster floods the database, slower makes a dead
// instance hold up switches for longer than people wait.
const (
	minHeartbeat = 100 * time.Millisecond
	maxHeartbeat = time.Minute
)

func (d *decoder) cluster(n *yaml.Node, cfg *config) {
	cfg.lines["cluster"] = n.Line
	d.mapping(n, "cluster", map[string]func(*yaml.Node){
		"database_url": func(v *yaml.Node) { cfg.Cluster.DatabaseURL = d.str(v, "cluster.database_url") },
		"name": func(v *yaml.Node) {
			name := d.str(v, "cluster.name")
			if !validInstanceName(name) {
				d.bad(v, "cluster.name", "cluster.name %q must be 1 to 63 letters, digits, '.', '-' or '_'", name)
				return
			}
			cfg.Cluster.Name = name
		},
		"heartbeat": func(v *yaml.Node) {
			hb := d.duration(v, "cluster.heartbeat")
			if hb != 0 && (hb < minHeartbeat || hb > maxHeartbeat) {
				d.bad(v, "cluster.heartbeat", "cluster.heartbeat %v must be between %v and %v", hb, minHeartbeat, maxHeartbeat)
				return
			}
			cfg.Cluster.Heartbeat = hb
		},
	})
	if cfg.Cluster.DatabaseURL == "" && !isNull(n) {
		d.errorf(n, "cluster: needs database_url (the fleet's Postgres, which may be chat.database_url); remove the section to run alone")
	}
}

func validInstanceName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
