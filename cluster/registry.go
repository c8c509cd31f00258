package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/edge-server/edge/internal/pgschema"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Instance is one live member of the fleet, as `edge status` shows it.
type Instance struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	LastSeen  time.Time `json:"last_seen"`
	Report
}

func applySchema(ctx context.Context, pool *pgxpool.Pool) error {
	return pgschema.Apply(ctx, pool, schema)
}

// goneAfter is how old a heartbeat may be before its instance counts as gone.
func (f *Fleet) goneAfter() time.Duration {
	return time.Duration(f.cfg.MissedHeartbeats) * f.cfg.Heartbeat
}

// Instances lists the live instances (heartbeat within MissedHeartbeats), by name.
func (f *Fleet) Instances(ctx context.Context) ([]Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.OpTimeout)
	defer cancel()
	rows, err := f.cfg.Pool.Query(ctx, `SELECT name, version, started_at, last_seen, report FROM edge_instances
		WHERE last_seen > now() - $1::interval ORDER BY name`, f.goneAfter().String())
	if err != nil {
		f.markDown(err)
		return nil, fmt.Errorf("reading the fleet registry: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Instance, error) {
		var in Instance
		var report []byte
		if err := r.Scan(&in.Name, &in.Version, &in.StartedAt, &in.LastSeen, &report); err != nil {
			return in, err
		}
		_ = json.Unmarshal(report, &in.Report) // a newer instance's extra fields are ignored
		return in, nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the fleet registry: %w", err)
	}
	return out, nil
}
