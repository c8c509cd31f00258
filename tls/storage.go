package edgetls

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

// countingStorage is the Manager's storage (certmagic's FileStorage, or the fleet's
// PostgresStorage) remembering which locks this process holds, so Shutdown can wait
// for an abandoned issuance to release its lock instead of leaving one behind for the
// next start (certmagic treats file locks as stale only after 10 s without a refresh;
// a Postgres lease lasts LockTTL).
type countingStorage struct {
	certmagic.Storage

	mu   sync.Mutex
	held map[string]struct{}
}

func (s *countingStorage) Lock(ctx context.Context, name string) error {
	if err := s.Storage.Lock(ctx, name); err != nil {
		return err
	}
	s.mark(name, true)
	return nil
}

func (s *countingStorage) TryLock(ctx context.Context, name string) (bool, error) {
	tl, can := s.Storage.(certmagic.TryLocker)
	if !can {
		return false, fmt.Errorf("the certificate storage %T cannot try a lock", s.Storage)
	}
	ok, err := tl.TryLock(ctx, name)
	if ok {
		s.mark(name, true)
	}
	return ok, err
}

func (s *countingStorage) Unlock(ctx context.Context, name string) error {
	s.mark(name, false)
	return s.Storage.Unlock(ctx, name)
}

func (s *countingStorage) mark(name string, held bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !held {
		delete(s.held, name)
		return
	}
	if s.held == nil {
		s.held = make(map[string]struct{})
	}
	s.held[name] = struct{}{}
}

func (s *countingStorage) locksHeld() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}

var (
	_ certmagic.Storage   = (*countingStorage)(nil)
	_ certmagic.TryLocker = (*countingStorage)(nil)
)

// RenewLockLease passes certmagic's lease renewals through to storages that have
// leases (PostgresStorage); FileStorage refreshes its lock files by itself.
func (s *countingStorage) RenewLockLease(ctx context.Context, name string, d time.Duration) error {
	if r, ok := s.Storage.(certmagic.LockLeaseRenewer); ok {
		return r.RenewLockLease(ctx, name, d)
	}
	return nil
}
