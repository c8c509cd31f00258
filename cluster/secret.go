package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Secret returns the fleet-wide secret called name, creating a random one of size
// bytes if no instance has yet (the first writer wins; everyone reads the winner).
// It is how every instance gets the same chat signing key.
func (f *Fleet) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.OpTimeout)
	defer cancel()
	// Secrets are read while edge builds its services, before Start: make sure the
	// tables exist.
	if err := applySchema(ctx, f.cfg.Pool); err != nil {
		return nil, fmt.Errorf("reading the fleet's %s secret: %w", name, err)
	}
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("generating the %s secret: %w", name, err)
	}
	var (
		v   []byte
		err error
	)
	// A racing first writer's row is invisible to this statement's snapshot when its
	// insert made ours a no-op: then the next attempt reads it.
	for range 3 {
		if v, err = f.secretOnce(ctx, name, fresh); !errors.Is(err, pgx.ErrNoRows) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the fleet's %s secret: %w", name, err)
	}
	return v, nil
}

func (f *Fleet) secretOnce(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	var v []byte
	err := f.cfg.Pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO edge_fleet_secrets (name, value, created_by) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO NOTHING RETURNING value)
		SELECT value FROM ins UNION ALL SELECT value FROM edge_fleet_secrets WHERE name = $1 LIMIT 1`,
		name, fresh, f.cfg.Name).Scan(&v)
	return v, err
}
