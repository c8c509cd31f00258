package chat

import (
	"context"
	"sort"

	"github.com/jackc/pgx/v5"
)

func (s *pgStore) hold(ctx context.Context, m Message) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO chat_held (room_id, sender_id, sender_nickname, avatar, content, client_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sender_id, client_id) DO NOTHING`,
		m.Room, m.SenderID, m.Nickname, m.Avatar, m.Content, m.ClientID, m.CreatedAt)
	return err
}

func (s *pgStore) held(ctx context.Context, ids []int64) ([]HeldMessage, error) {
	const cols = "id, room_id, sender_id, sender_nickname, avatar, content, client_id, created_at"
	var rows pgx.Rows
	var err error
	if ids == nil {
		rows, err = s.pool.Query(ctx, "SELECT "+cols+" FROM chat_held ORDER BY id LIMIT 1000")
	} else {
		rows, err = s.pool.Query(ctx, "SELECT "+cols+" FROM chat_held WHERE id = ANY($1) ORDER BY id", ids)
	}
	if err != nil {
		return nil, err
	}
	hm, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (HeldMessage, error) {
		var h HeldMessage
		err := r.Scan(&h.ID, &h.Room, &h.SenderID, &h.Nickname, &h.Avatar, &h.Content, &h.ClientID, &h.CreatedAt)
		h.CreatedAt = h.CreatedAt.UTC()
		return h, err
	})
	if err != nil {
		return nil, err
	}
	return hm, missingHeld(ids, hm)
}

func (s *pgStore) dropHeld(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, "DELETE FROM chat_held WHERE id = ANY($1)", ids)
	return err
}

// missingHeld is the *unknownIDsError for ids that are not in hm (nil ids: none asked).
func missingHeld(ids []int64, hm []HeldMessage) error {
	have := make(map[int64]bool, len(hm))
	for _, h := range hm {
		have[h.ID] = true
	}
	var missing []int64
	for _, id := range ids {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	if missing != nil {
		sort.Slice(missing, func(i, j int) bool { return missing[i] < missing[j] })
		return &unknownIDsError{ids: missing}
	}
	return nil
}

func (s *memStore) hold(ctx context.Context, m Message) error {
	s.banMu.Lock()
	defer s.banMu.Unlock()
	for _, h := range s.heldMsgs {
		if h.SenderID == m.SenderID && h.ClientID == m.ClientID {
			return nil
		}
	}
	s.heldSeq++
	s.heldMsgs = append(s.heldMsgs, HeldMessage{ID: s.heldSeq, Message: m})
	return ctx.Err()
}

func (s *memStore) held(ctx context.Context, ids []int64) ([]HeldMessage, error) {
	s.banMu.Lock()
	defer s.banMu.Unlock()
	want := map[int64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var out []HeldMessage
	for _, h := range s.heldMsgs {
		if ids == nil || want[h.ID] {
			out = append(out, h)
		}
	}
	if err := missingHeld(ids, out); err != nil {
		return nil, err
	}
	return out, ctx.Err()
}

func (s *memStore) dropHeld(ctx context.Context, ids []int64) error {
	s.banMu.Lock()
	defer s.banMu.Unlock()
	drop := map[int64]bool{}
	for _, id := range ids {
		drop[id] = true
	}
	kept := s.heldMsgs[:0]
	for _, h := range s.heldMsgs {
		if !drop[h.ID] {
			kept = append(kept, h)
		}
	}
	s.heldMsgs = kept
	return ctx.Err()
}
