package pgschema_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/edge-server/edge/internal/pgschema"
	"github.com/edge-server/edge/internal/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestApplyConcurrentStartsMigrateOnce: eight instances (own pools) apply the same
// schema at the same moment against an empty database; all succeed, each step ran
// once (a non-idempotent INSERT proves it), and a later, longer schema adds only its
// new step. A schema newer than the code is refused with a sentence.
func TestApplyConcurrentStartsMigrateOnce(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	v1 := pgschema.Schema{Component: "test", Steps: []string{
		"CREATE TABLE t (n INT); INSERT INTO t VALUES (1)",
	}}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		pool, err := pgxpool.New(ctx, db.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		wg.Add(1)
		go func() { defer wg.Done(); errs <- pgschema.Apply(ctx, pool, v1) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Apply: %v", err)
		}
	}
	pool, _ := pgxpool.New(ctx, db.URL)
	t.Cleanup(pool.Close)
	v2 := pgschema.Schema{Component: "test", Steps: append(v1.Steps, "INSERT INTO t VALUES (2)")}
	for range 2 {
		if err := pgschema.Apply(ctx, pool, v2); err != nil {
			t.Fatal(err)
		}
	}
	var rows, sum int
	if err := pool.QueryRow(ctx, "SELECT count(*), sum(n) FROM t").Scan(&rows, &sum); err != nil {
		t.Fatal(err)
	}
	if rows != 2 || sum != 3 {
		t.Errorf("t has %d rows summing to %d; every step should run exactly once", rows, sum)
	}
	err := pgschema.Apply(ctx, pool, v1)
	if err == nil || !strings.Contains(err.Error(), "newer than this edge knows") {
		t.Errorf("applying an older schema = %v, want a refusal", err)
	}
}
