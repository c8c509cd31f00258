// Package pgtest gives tests a real, throwaway PostgreSQL. It uses EDGE_TEST_DATABASE_URL
// when set; otherwise it starts one private cluster per test process (initdb + postgres
// from the installed PostgreSQL, as user postgres when running as root) and gives every
// test its own fresh database. The private cluster can be stopped and restarted mid-test.
//
// When PostgreSQL is not installed, tests that need it fail naming the package to
// install; they never skip.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable that points tests at an existing server instead.
const EnvURL = "EDGE_TEST_DATABASE_URL"

var (
	once    sync.Once
	shared  *Server
	initErr error
	dbSeq   atomic.Int64
)

// DB is one fresh database for one test.
type DB struct {
	// URL connects to the database (pgx / libpq URL form).
	URL    string
	Name   string
	Server *Server
}

// New returns a fresh, empty database that is dropped when the test ends.
func New(t testing.TB) *DB {
	t.Helper()
	srv := Shared(t)
	name := fmt.Sprintf("edge_test_%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if !srv.Running() {
			return // a test stopped the server and did not restart it; the cluster is discarded anyway
		}
		if err := srv.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return &DB{URL: srv.urlFor(name), Name: name, Server: srv}
}

// Shared returns the server for this test process, starting it on first use.
func Shared(t testing.TB) *Server {
	t.Helper()
	once.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			shared, initErr = external(u)
			return
		}
		shared, initErr = startPrivate()
	})
	if initErr != nil {
		t.Fatalf("pgtest: %v", initErr)
	}
	return shared
}

// Main runs the tests of a package and then stops the private cluster, if one was started.
// Use it from TestMain: func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.destroy()
	}
	return code
}

func external(raw string) (*Server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s is not a URL: %v", EnvURL, err)
	}
	s := &Server{base: u}
	s.running.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.exec(ctx, "SELECT 1"); err != nil {
		return nil, fmt.Errorf("cannot reach %s: %v", EnvURL, err)
	}
	return s, nil
}

// exec runs one statement on the server's maintenance database.
func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.urlFor(strings.TrimPrefix(s.base.Path, "/")))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func (s *Server) urlFor(db string) string {
	u := *s.base
	u.Path = "/" + db
	return u.String()
}
