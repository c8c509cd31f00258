package edgetls

import (
	"context"
	"sync"

	"github.com/caddyserver/certmagic"
)

// countingStorage is certmagic's FileStorage that remembers which locks this process
// holds, so Shutdown can wait for an abandoned issuance to release its lock instead of
// leaving a lock file behind for the next start (certmagic treats file locks as stale
// only after 10 s without a refresh).
type countingStorage struct {
	*certmagic.FileStorage

	mu   sync.Mutex
	held map[string]struct{}
}

func (s *countingStorage) Lock(ctx context.Context, name string) error {
	if err := s.FileStorage.Lock(ctx, name); err != nil {
		return err
	}
	s.mark(name, true)
	return nil
}

func (s *countingStorage) TryLock(ctx context.Context, name string) (bool, error) {
	ok, err := s.FileStorage.TryLock(ctx, name)
	if ok {
		s.mark(name, true)
	}
	return ok, err
}

func (s *countingStorage) Unlock(ctx context.Context, name string) error {
	s.mark(name, false)
	return s.FileStorage.Unlock(ctx, name)
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
