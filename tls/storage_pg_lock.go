package edgetls

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// lease is a lock this process holds: the token proves ownership of the row, and the
// renewer goroutine keeps expires_at in the future until Unlock stops it.
type lease struct {
	token string
	stop  chan struct{}
	done  chan struct{}
}

// Lock implements certmagic.Locker: it waits, polling every LockPoll, until the named
// lock is free or expired, then takes it. It honours ctx.
func (s *PostgresStorage) Lock(ctx context.Context, name string) error {
	for {
		ok, err := s.TryLock(ctx, name)
		if err != nil {
			// A database blip must not turn into a duplicate order: keep waiting
			// (bounded by ctx) instead of proceeding without the lock.
			s.log.Warn("taking certificate lock failed; retrying", zap.String("lock", name), zap.Error(err))
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for certificate lock %s: %w", name, ctx.Err())
		case <-time.After(s.poll):
		}
	}
}

// TryLock implements certmagic.TryLocker: one attempt to take the row, which succeeds
// when no row exists or the existing lease expired (by the database's clock, so the
// instances' clocks need not agree).
func (s *PostgresStorage) TryLock(ctx context.Context, name string) (bool, error) {
	s.mu.Lock()
	_, mine := s.held[name]
	s.mu.Unlock()
	if mine {
		return false, nil // another goroutine of this process holds it
	}
	token := newToken()
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	tag, err := s.pool.Exec(octx, `INSERT INTO edge_cert_locks (name, token, holder, expires_at)
		VALUES ($1, $2, $3, now() + $4::interval)
		ON CONFLICT (name) DO UPDATE SET token = EXCLUDED.token, holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
		WHERE edge_cert_locks.expires_at < now()`, name, token, s.who, s.ttl.String())
	if err != nil {
		return false, fmt.Errorf("taking certificate lock %s: %w", name, err)
	}
	if tag.RowsAffected() != 1 {
		return false, nil
	}
	l := &lease{token: token, stop: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	if _, raced := s.held[name]; raced {
		// Two goroutines of this process raced past the check above; the second one's
		// insert cannot have succeeded while the first's lease is live, so this is
		// the first and the map entry is stale only if Unlock was skipped.
		s.mu.Unlock()
		return false, fmt.Errorf("certificate lock %s is already held by this process", name)
	}
	s.held[name] = l
	s.mu.Unlock()
	go s.renew(name, l)
	return true, nil
}

// renew keeps the lease alive every LockTTL/4 until Unlock. If the row was taken over
// (this process was frozen past LockTTL) it says so loudly: certmagic re-checks storage
// after taking a lock, so the worst case is one duplicate order, never a lost
// certificate.
func (s *PostgresStorage) renew(name string, l *lease) {
	defer close(l.done)
	t := time.NewTicker(s.ttl / 4)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.op)
		tag, err := s.pool.Exec(ctx, `UPDATE edge_cert_locks SET expires_at = now() + $3::interval
			WHERE name = $1 AND token = $2`, name, l.token, s.ttl.String())
		cancel()
		switch {
		case err != nil:
			s.log.Warn("renewing certificate lock failed; it expires unless a renewal succeeds",
				zap.String("lock", name), zap.Duration("ttl", s.ttl), zap.Error(err))
		case tag.RowsAffected() == 0:
			s.log.Error("certificate lock was lost (expired and taken by another instance)", zap.String("lock", name))
			return
		}
	}
}

// RenewLockLease implements certmagic.LockLeaseRenewer: certmagic asks for a longer
// lease around long operations; the lease is extended to at least leaseDuration.
func (s *PostgresStorage) RenewLockLease(ctx context.Context, name string, leaseDuration time.Duration) error {
	s.mu.Lock()
	l, ok := s.held[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("renewing certificate lock %s: not held by this instance", name)
	}
	d := max(leaseDuration, s.ttl)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE edge_cert_locks SET expires_at = greatest(expires_at, now() + $3::interval)
		WHERE name = $1 AND token = $2`, name, l.token, d.String())
	if err != nil {
		return fmt.Errorf("renewing certificate lock %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("renewing certificate lock %s: the lease expired and another instance took it", name)
	}
	return nil
}

// Unlock implements certmagic.Locker. The row is deleted only if this process still
// owns it, so a late Unlock never releases someone else's lock.
func (s *PostgresStorage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	l, ok := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("releasing certificate lock %s: not held by this instance", name)
	}
	close(l.stop)
	<-l.done
	// A fresh context: certmagic may unlock after its own context ended, and a lock
	// left behind would block the fleet for LockTTL.
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.op)
	defer cancel()
	if _, err := s.pool.Exec(octx, "DELETE FROM edge_cert_locks WHERE name = $1 AND token = $2", name, l.token); err != nil {
		return fmt.Errorf("releasing certificate lock %s (it expires within %v): %w", name, s.ttl, err)
	}
	return nil
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
