package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// Presence shares chat presence across the fleet: each instance publishes, per room,
// how many distinct visitors it has there, and reads the sum over the live instances.
// A visitor connected to two instances at once counts twice. Counts of an instance
// that stops heartbeating drop out after MissedHeartbeats.
type Presence struct {
	f *Fleet

	mu        sync.Mutex
	published map[string]int // room → count this instance last published
	totals    map[string]int // room → fleet total last read
	changed   func(room string)
}

// Presence returns the fleet's chat presence sharer (one per Fleet).
func (f *Fleet) Presence() *Presence {
	f.presenceOnce.Do(func() {
		f.presence = &Presence{f: f, published: map[string]int{}, totals: map[string]int{}}
	})
	return f.presence
}

// OnChange registers fn, called (from the Fleet's goroutines) when another instance's
// count for a room changed or an instance's counts dropped out; the chat then
// publishes again and broadcasts the new total.
func (p *Presence) OnChange(fn func(room string)) {
	p.mu.Lock()
	p.changed = fn
	p.mu.Unlock()
}

// Publish records this instance's count for room and returns the fleet's total. When
// the database cannot be reached it returns local and the error.
func (p *Presence) Publish(room string, local int) (int, error) {
	f := p.f
	p.mu.Lock()
	prev, known := p.published[room]
	p.mu.Unlock()
	ctx, cancel := f.opCtx()
	defer cancel()
	var total int
	err := pgx.BeginFunc(ctx, f.cfg.Pool, func(tx pgx.Tx) error {
		if !known || prev != local {
			var err error
			if local == 0 {
				_, err = tx.Exec(ctx, "DELETE FROM edge_chat_presence WHERE room = $1 AND instance = $2", room, f.cfg.Name)
			} else {
				_, err = tx.Exec(ctx, `INSERT INTO edge_chat_presence (instance, room, online) VALUES ($1, $2, $3)
					ON CONFLICT (room, instance) DO UPDATE SET online = EXCLUDED.online, updated_at = now()`, f.cfg.Name, room, local)
			}
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", notifyChannel, "presence "+f.cfg.Name+" "+room); err != nil {
				return err
			}
		}
		return tx.QueryRow(ctx, `SELECT coalesce(sum(p.online), 0) FROM edge_chat_presence p
			JOIN edge_instances i ON i.name = p.instance AND i.last_seen > now() - $2::interval
			WHERE p.room = $1`, room, f.goneAfter().String()).Scan(&total)
	})
	if err != nil {
		return local, fmt.Errorf("sharing chat presence of %s: %w", room, err)
	}
	p.mu.Lock()
	if local == 0 {
		delete(p.published, room)
		delete(p.totals, room)
	} else {
		p.published[room] = local
		p.totals[room] = total
	}
	p.mu.Unlock()
	return max(total, local), nil
}

// remote handles "presence <instance> <room>" from another instance.
func (p *Presence) remote(arg string) {
	inst, room, ok := strings.Cut(arg, " ")
	if !ok || inst == p.f.cfg.Name {
		return
	}
	p.notify(room)
}

func (p *Presence) notify(room string) {
	p.mu.Lock()
	fn := p.changed
	_, here := p.published[room]
	p.mu.Unlock()
	if fn != nil && here {
		fn(room)
	}
}

// refresh runs with each heartbeat: this instance's rows stay fresh, and rooms whose
// total changed without a notification (an instance dropped out) are re-announced.
func (p *Presence) refresh(ctx context.Context) error {
	f := p.f
	p.mu.Lock()
	rooms := make([]string, 0, len(p.published))
	for r := range p.published {
		rooms = append(rooms, r)
	}
	p.mu.Unlock()
	if _, err := f.cfg.Pool.Exec(ctx, "UPDATE edge_chat_presence SET updated_at = now() WHERE instance = $1", f.cfg.Name); err != nil {
		return fmt.Errorf("refreshing chat presence: %w", err)
	}
	if len(rooms) == 0 {
		return nil
	}
	rows, err := f.cfg.Pool.Query(ctx, `SELECT p.room, coalesce(sum(p.online), 0) FROM edge_chat_presence p
		JOIN edge_instances i ON i.name = p.instance AND i.last_seen > now() - $2::interval
		WHERE p.room = ANY($1) GROUP BY p.room`, rooms, f.goneAfter().String())
	if err != nil {
		return fmt.Errorf("reading chat presence: %w", err)
	}
	totals := map[string]int{}
	for rows.Next() {
		var r string
		var n int
		if rows.Scan(&r, &n) == nil {
			totals[r] = n
		}
	}
	rows.Close()
	var stale []string
	p.mu.Lock()
	for _, r := range rooms {
		if t, ok := p.totals[r]; ok && t != totals[r] {
			stale = append(stale, r)
		}
	}
	p.mu.Unlock()
	for _, r := range stale {
		f.log.Debug("chat presence changed without a notification", zap.String("room", r))
		p.notify(r)
	}
	return nil
}
