package config

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Cluster is the cluster: section (docs/scale-out.md). Off by default: a single VM
// needs no database.
type Cluster struct {
	DatabaseURL string        // "" = no fleet
	Name        string        // default: the hostname (filled by cluster.New)
	Heartbeat   time.Duration // default 2s (cluster.DefaultHeartbeat)
}

// Bounds of cluster.heartbeat: faster floods the database, slower makes a dead
// instance hold up switches for longer than people wait.
const (
	minHeartbeat = 100 * time.Millisecond
	maxHeartbeat = time.Minute
)

func (d *decoder) cluster(n *yaml.Node, where string, cfg *Config) {
	at := &cfg.At
	record(n, &at.Cluster)
	d.mapping(n, where, map[string]field{
		"database_url": func(v *yaml.Node, p string) { cfg.Cluster.DatabaseURL = d.str(v, p, &at.ClusterDatabaseURL) },
		"name": func(v *yaml.Node, p string) {
			name := d.str(v, p, &at.ClusterName)
			if !validInstanceName(name) {
				d.bad(v, &at.ClusterName, "%s %q must be 1 to 63 letters, digits, '.', '-' or '_'", p, name)
				return
			}
			cfg.Cluster.Name = name
		},
		"heartbeat": func(v *yaml.Node, p string) {
			hb := d.duration(v, p, &at.ClusterHeartbeat)
			if hb != 0 && (hb < minHeartbeat || hb > maxHeartbeat) {
				d.bad(v, &at.ClusterHeartbeat, "%s %v must be between %v and %v", p, hb, minHeartbeat, maxHeartbeat)
				return
			}
			cfg.Cluster.Heartbeat = hb
		},
	})
	if cfg.Cluster.DatabaseURL == "" && !isNull(n) && !at.ClusterDatabaseURL.Bad {
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
