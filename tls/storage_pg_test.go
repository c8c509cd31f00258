package edgetls_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/edge-server/edge/internal/pgtest"
	edgetls "github.com/edge-server/edge/tls"
	"github.com/jackc/pgx/v5/pgxpool"
)

// newPool connects to url for the duration of the test.
func newPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("pgxpool.New: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func newPGStorage(t *testing.T, url, holder string, ttl time.Duration) *edgetls.PostgresStorage {
	t.Helper()
	s, err := edgetls.NewPostgresStorage(context.Background(), edgetls.PostgresStorageConfig{
		Pool: newPool(t, url), Holder: holder, LockTTL: ttl, LockPoll: 50 * time.Millisecond, OpTimeout: 3 * time.Second,
	}, nil)
	if err != nil {
		t.Fatalf("NewPostgresStorage: %v", err)
	}
	return s
}

// TestPostgresStorageMatchesFileStorage runs one script of operations against
// certmagic's FileStorage and the Postgres storage and wants the same answers: the
// semantics certmagic relies on (component prefixes, implicit directories, recursive
// and flat List, ErrNotExist, idempotent Delete) are FileStorage's.
func TestPostgresStorageMatchesFileStorage(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	stores := map[string]certmagic.Storage{
		"file":     &certmagic.FileStorage{Path: t.TempDir()},
		"postgres": newPGStorage(t, db.URL, "a", 0),
	}
	script := func(s certmagic.Storage) []string {
		var out []string
		note := func(f string, args ...any) { out = append(out, fmt.Sprintf(f, args...)) }
		for _, kv := range [][2]string{
			{"a/b/c", "1"}, {"a/b/d", "22"}, {"a/bc", "333"}, {"a/e", "4"}, {"x_y/z%", "5"}, {"a/b/d", "6666"},
		} {
			note("store %s: %v", kv[0], s.Store(ctx, kv[0], []byte(kv[1])))
		}
		// Not compared: Load of a directory and keys below a file, where FileStorage
		// answers EISDIR/ENOTDIR (and Exists says true); Postgres says ErrNotExist.
		for _, k := range []string{"a/b/d", "a/bc", "x_y/z%", "a/nope", "x%y/z%"} {
			v, err := s.Load(ctx, k)
			note("load %s: %q notexist=%v ok=%v", k, v, errors.Is(err, fs.ErrNotExist), err == nil)
		}
		for _, k := range []string{"a", "a/b", "a/b/c", "a/bc", "b", "x", "x_y"} {
			note("exists %s: %v", k, s.Exists(ctx, k))
			st, err := s.Stat(ctx, k)
			if err != nil {
				note("stat %s: notexist=%v", k, errors.Is(err, fs.ErrNotExist))
			} else {
				size := st.Size
				if !st.IsTerminal {
					size = -1 // directory sizes are filesystem-specific
				}
				note("stat %s: key=%s terminal=%v size=%d modified=%v", k, st.Key, st.IsTerminal, size, !st.Modified.IsZero())
			}
		}
		for _, rec := range []bool{false, true} {
			for _, k := range []string{"a", "a/b", "a/b/c", "nope", "x_y"} {
				keys, err := s.List(ctx, k, rec)
				slices.Sort(keys)
				note("list %s recursive=%v: %v notexist=%v", k, rec, keys, errors.Is(err, fs.ErrNotExist))
			}
		}
		note("delete a/b: %v", s.Delete(ctx, "a/b"))
		note("delete again: %v", s.Delete(ctx, "a/b"))
		note("delete missing: %v", s.Delete(ctx, "never/was"))
		for _, k := range []string{"a/b", "a/b/c", "a/bc", "a"} {
			note("after delete, exists %s: %v", k, s.Exists(ctx, k))
		}
		keys, err := s.List(ctx, "a", true)
		note("after delete, list a: %v %v", keys, err)
		return out
	}
	want := script(stores["file"])
	got := script(stores["postgres"])
	if !slices.Equal(got, want) {
		for i := range max(len(got), len(want)) {
			var g, w string
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf("postgres: %s\n     file: %s", g, w)
			}
		}
	}
}

// TestPostgresLockIsExclusiveAcrossInstances has three storages (three instances, each
// with its own pool) and several goroutines each run critical sections on one name:
// never two at once, and every waiter eventually gets in.
func TestPostgresLockIsExclusiveAcrossInstances(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	stores := []*edgetls.PostgresStorage{
		newPGStorage(t, db.URL, "one", 2*time.Second),
		newPGStorage(t, db.URL, "two", 2*time.Second),
		newPGStorage(t, db.URL, "three", 2*time.Second),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var inside, entered atomic.Int32
	var wg sync.WaitGroup
	for i := range 9 {
		s := stores[i%3]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				if err := s.Lock(ctx, "issue_cert_contended.edge.test"); err != nil {
					t.Errorf("Lock: %v", err)
					return
				}
				if n := inside.Add(1); n != 1 {
					t.Errorf("%d holders inside the critical section", n)
				}
				entered.Add(1)
				time.Sleep(5 * time.Millisecond)
				inside.Add(-1)
				if err := s.Unlock(ctx, "issue_cert_contended.edge.test"); err != nil {
					t.Errorf("Unlock: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if entered.Load() != 27 {
		t.Errorf("entered %d times, want 27", entered.Load())
	}
	ok, err := stores[0].TryLock(ctx, "issue_cert_contended.edge.test")
	if !ok || err != nil {
		t.Errorf("after everyone unlocked, TryLock = %v, %v", ok, err)
	}
	if ok2, _ := stores[1].TryLock(ctx, "issue_cert_contended.edge.test"); ok2 {
		t.Error("a second instance took a held lock")
	}
	if err := stores[1].Unlock(ctx, "issue_cert_contended.edge.test"); err == nil {
		t.Error("Unlock by an instance that does not hold the lock succeeded")
	}
	_ = stores[0].Unlock(ctx, "issue_cert_contended.edge.test")
}

// TestPostgresLockHeldWhileRenewed: a live holder keeps its lock well past LockTTL
// (the renewer extends it), and Lock honours its context.
func TestPostgresLockHeldWhileRenewed(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	a := newPGStorage(t, db.URL, "a", time.Second)
	b := newPGStorage(t, db.URL, "b", time.Second)
	ctx := context.Background()
	if err := a.Lock(ctx, "renewed"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	err := b.Lock(wctx, "renewed")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while a live holder renews = %v, want deadline exceeded", err)
	}
	if err := a.Unlock(ctx, "renewed"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.TryLock(ctx, "renewed"); !ok || err != nil {
		t.Fatalf("TryLock after Unlock = %v, %v", ok, err)
	}
	_ = b.Unlock(ctx, "renewed")
}
