package pgtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestWriteReadAndRestart(t *testing.T) {
	db := New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE t (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO t (body) VALUES ($1)`, "총명한 고슴도치"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	if os.Getenv(EnvURL) == "" { // only the private cluster can be restarted
		if err := db.Server.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	conn, err = pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var body string
	if err := conn.QueryRow(ctx, `SELECT body FROM t WHERE id = 1`).Scan(&body); err != nil {
		t.Fatal(err)
	}
	if body != "총명한 고슴도치" {
		t.Fatalf("read %q back", body)
	}
}

func TestDatabasesAreIsolated(t *testing.T) {
	a, b := New(t), New(t)
	if a.URL == b.URL {
		t.Fatal("two tests got the same database")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, b.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("fresh database has %d tables (err %v)", n, err)
	}
}
