// Package pgschema applies the small, versioned schemas of edge's fleet tables
// (certificate storage, instance registry, fleet state). Several edge instances may
// start at the same moment against one database: Apply serialises them on a
// transaction-level advisory lock, so exactly one applies each step and the others see
// it done. Every step runs in the same transaction as its version bump, so a crash
// half-way leaves the previous version, never a half-applied step.
package pgschema

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Schema is one component's ordered list of DDL steps. Steps are append-only: step i
// is applied once, when the recorded version is below i+1.
type Schema struct {
	// Component names the schema in edge_schema_versions ("tls", "cluster").
	Component string
	// Steps are SQL scripts, applied in order.
	Steps []string
}

// lockKey is the advisory lock every Apply takes ("edgeschm").
const lockKey int64 = 0x65646765_7363686d

// Apply brings s up to date in one transaction. It returns an error naming the
// component and step when a step fails, and refuses a database whose recorded version
// is newer than s (an older edge must not run against a newer fleet schema).
func Apply(ctx context.Context, pool *pgxpool.Pool, s Schema) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey); err != nil {
			return fmt.Errorf("taking the schema lock for %s: %w", s.Component, err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS edge_schema_versions (
			component TEXT PRIMARY KEY,
			version   INT NOT NULL,
			applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("creating edge_schema_versions: %w", err)
		}
		var current int
		err := tx.QueryRow(ctx, "SELECT version FROM edge_schema_versions WHERE component = $1", s.Component).Scan(&current)
		if err != nil && err != pgx.ErrNoRows {
			return fmt.Errorf("reading the %s schema version: %w", s.Component, err)
		}
		if current > len(s.Steps) {
			return fmt.Errorf("the %s schema is at version %d, newer than this edge knows (%d); upgrade edge", s.Component, current, len(s.Steps))
		}
		for i := current; i < len(s.Steps); i++ {
			if _, err := tx.Exec(ctx, s.Steps[i]); err != nil {
				return fmt.Errorf("applying %s schema step %d: %w", s.Component, i+1, err)
			}
		}
		if current == len(s.Steps) {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO edge_schema_versions (component, version) VALUES ($1, $2)
			ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version, applied_at = now()`, s.Component, len(s.Steps))
		if err != nil {
			return fmt.Errorf("recording the %s schema version: %w", s.Component, err)
		}
		return nil
	})
}
