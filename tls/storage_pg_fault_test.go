package edgetls_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/edge-server/edge/internal/pgtest"
	"github.com/edge-server/edge/internal/tcpfault"
	edgetls "github.com/edge-server/edge/tls"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	helperURLEnv  = "EDGE_TLS_LOCK_HELPER_URL"
	helperLockTTL = 2 * time.Second
)

// lockHelper is the child process of TestPostgresLockReleasedWhenHolderKilled: it
// takes a lock, says so, and holds it until it is killed.
func lockHelper() bool {
	url := os.Getenv(helperURLEnv)
	if url == "" {
		return false
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err == nil {
		var s *edgetls.PostgresStorage
		s, err = edgetls.NewPostgresStorage(context.Background(), edgetls.PostgresStorageConfig{Pool: pool, Holder: "child", LockTTL: helperLockTTL}, nil)
		if err == nil {
			err = s.Lock(context.Background(), "issue_cert_killed.edge.test")
		}
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	select {}
}

// startChild runs this test binary as a helper process (chosen by env in TestMain),
// killed at cleanup, and returns it with the first line it printed.
func startChild(t *testing.T, env string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	return cmd, strings.TrimSpace(line)
}

// waitTakeover measures how long s needs to take name.
func waitTakeover(t *testing.T, s *edgetls.PostgresStorage, name string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := s.Lock(ctx, name); err != nil {
		t.Fatalf("the lock was not released within %v: %v", limit, err)
	}
	return time.Since(start)
}

// TestPostgresLockReleasedWhenHolderKilled: a holder killed with SIGKILL never
// unlocks; its lease runs out and another instance takes the lock within LockTTL.
func TestPostgresLockReleasedWhenHolderKilled(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	other := newPGStorage(t, db.URL, "other", helperLockTTL)
	cmd, line := startChild(t, helperURLEnv+"="+db.URL)
	if line != "locked" {
		t.Fatalf("helper said %q", line)
	}
	if ok, _ := other.TryLock(context.Background(), "issue_cert_killed.edge.test"); ok {
		t.Fatal("took the lock while the child holds it")
	}
	killed := time.Now()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitTakeover(t, other, "issue_cert_killed.edge.test", helperLockTTL+8*time.Second) // generous: a loaded CI box; without a lease it would never come
	t.Logf("lock taken over %v after SIGKILL (LockTTL %v)", time.Since(killed).Round(time.Millisecond), helperLockTTL)
}

// TestPostgresLockReleasedWhenHolderFrozen: the holder's path to Postgres hangs with
// no FIN (the fault a session advisory lock cannot survive: the server would think the
// session alive for hours). Its renewals time out, the lease expires, another instance
// takes over within LockTTL; when the holder thaws, its late Unlock does not release
// the new owner's lock.
func TestPostgresLockReleasedWhenHolderFrozen(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	proxy := tcpfault.Start(t, db.Addr())
	ttl := 2 * time.Second
	frozen, err := edgetls.NewPostgresStorage(context.Background(), edgetls.PostgresStorageConfig{
		Pool: newPool(t, db.URLVia(proxy.Addr)), Holder: "frozen", LockTTL: ttl, OpTimeout: time.Second,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := newPGStorage(t, db.URL, "other", ttl)
	third := newPGStorage(t, db.URL, "third", ttl)
	const name = "issue_cert_frozen.edge.test"
	if err := frozen.Lock(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	proxy.Freeze()
	took := waitTakeover(t, other, name, ttl+3*time.Second)
	t.Logf("lock taken over %v after the holder froze (LockTTL %v)", took.Round(time.Millisecond), ttl)
	proxy.Thaw()
	proxy.Cut() // the frozen pool's connections are dead after the timeouts anyway
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = frozen.Unlock(ctx, name)
	if ok, _ := third.TryLock(ctx, name); ok {
		t.Fatal("the thawed holder's Unlock released the lock another instance holds")
	}
	if err := other.Unlock(ctx, name); err != nil {
		t.Fatal(err)
	}
}

// TestPostgresStorageStartsWhileTheDatabaseIsDown: an instance starting during an
// outage still gets its storage (serving what it has); the tables are created on the
// first operation after the database is back.
func TestPostgresStorageStartsWhileTheDatabaseIsDown(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	proxy := tcpfault.Start(t, db.Addr())
	proxy.Freeze()
	start := time.Now()
	s, err := edgetls.NewPostgresStorage(context.Background(), edgetls.PostgresStorageConfig{
		Pool: newPool(t, db.URLVia(proxy.Addr)), OpTimeout: 300 * time.Millisecond,
	}, nil)
	if err != nil {
		t.Fatalf("NewPostgresStorage during an outage = %v, want the storage", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("NewPostgresStorage took %v against a frozen database", took)
	}
	if err := s.Store(context.Background(), "k", []byte("v")); err == nil {
		t.Error("Store succeeded against a frozen database")
	}
	proxy.Thaw()
	proxy.Cut()
	ctx := context.Background()
	var serr error
	for range 20 {
		if serr = s.Store(ctx, "k", []byte("v")); serr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if serr != nil {
		t.Fatalf("Store after the outage: %v", serr)
	}
	if v, err := s.Load(ctx, "k"); err != nil || string(v) != "v" {
		t.Errorf("Load = %q, %v", v, err)
	}
}
