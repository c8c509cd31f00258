package chat

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"
)

// modChannel carries moderation events between instances. It is not the message
// channel: deletions and bans are rare and must not wake the writers' catch-up.
const modChannel = "edge_chat_mod"

func (s *pgStore) deleteMessages(ctx context.Context, ids []int64) ([]DeletedRef, error) {
	var refs []DeletedRef
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT u.id, m.room_id FROM unnest($1::bigint[]) AS u(id)
			LEFT JOIN messages m ON m.id = u.id ORDER BY u.id`, ids)
		if err != nil {
			return err
		}
		var missing []int64
		refs = refs[:0]
		for rows.Next() {
			var id int64
			var room *string
			if err := rows.Scan(&id, &room); err != nil {
				rows.Close()
				return err
			}
			if room == nil {
				missing = append(missing, id)
			} else if len(refs) == 0 || refs[len(refs)-1].ID != id {
				refs = append(refs, DeletedRef{ID: id, Room: *room})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if missing != nil {
			return &unknownIDsError{ids: missing}
		}
		_, err = tx.Exec(ctx, "UPDATE messages SET deleted_at = now() WHERE id = ANY($1) AND deleted_at IS NULL", ids)
		return err
	})
	if err != nil {
		return nil, err
	}
	return refs, nil
}

func (s *pgStore) deletedUpTo(ctx context.Context, room string, upTo int64, since time.Time, limit int) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM messages WHERE room_id = $1 AND deleted_at > $2 AND id <= $3
		ORDER BY id DESC LIMIT $4`, room, since, upTo, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

func (s *pgStore) roomStats(ctx context.Context) ([]RoomInfo, error) {
	rows, err := s.pool.Query(ctx, "SELECT room_id, count(*), max(created_at) FROM messages GROUP BY room_id")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (RoomInfo, error) {
		var ri RoomInfo
		err := r.Scan(&ri.Room, &ri.Messages, &ri.LastActivity)
		ri.LastActivity = ri.LastActivity.UTC()
		return ri, err
	})
}

func (s *pgStore) userKnown(ctx context.Context, userID string) (bool, error) {
	// The (sender_id, client_id) unique index serves this.
	var ok bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM messages WHERE sender_id = $1)", userID).Scan(&ok)
	return ok, err
}

const banColumns = "id, coalesce(user_id, ''), cidr, reason, created_at, expires_at"

func scanBan(r pgx.CollectableRow) (Ban, error) {
	var b Ban
	var p *netip.Prefix
	if err := r.Scan(&b.ID, &b.User, &p, &b.Reason, &b.CreatedAt, &b.ExpiresAt); err != nil {
		return b, err
	}
	if p != nil {
		b.CIDR = p.String()
	}
	b.CreatedAt = b.CreatedAt.UTC()
	if b.ExpiresAt != nil {
		t := b.ExpiresAt.UTC()
		b.ExpiresAt = &t
	}
	return b, nil
}

func (s *pgStore) addBan(ctx context.Context, b Ban) (Ban, error) {
	var user, cidr *string
	if b.User != "" {
		user = &b.User
	}
	if b.CIDR != "" {
		cidr = &b.CIDR
	}
	rows, err := s.pool.Query(ctx, "INSERT INTO chat_bans (user_id, cidr, reason, expires_at) VALUES ($1, $2, $3, $4) RETURNING "+banColumns,
		user, cidr, b.Reason, b.ExpiresAt)
	if err != nil {
		return Ban{}, err
	}
	return pgx.CollectExactlyOneRow(rows, scanBan)
}

func (s *pgStore) removeBans(ctx context.Context, id int64, t BanTarget) ([]Ban, error) {
	var rows pgx.Rows
	var err error
	switch {
	case id > 0:
		rows, err = s.pool.Query(ctx, "DELETE FROM chat_bans WHERE id = $1 RETURNING "+banColumns, id)
	case t.User != "":
		rows, err = s.pool.Query(ctx, "DELETE FROM chat_bans WHERE user_id = $1 RETURNING "+banColumns, t.User)
	default:
		rows, err = s.pool.Query(ctx, "DELETE FROM chat_bans WHERE cidr = $1::cidr RETURNING "+banColumns, t.CIDR)
	}
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanBan)
}

func (s *pgStore) activeBans(ctx context.Context) ([]Ban, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+banColumns+" FROM chat_bans WHERE expires_at IS NULL OR expires_at > now() ORDER BY id")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanBan)
}

func (s *pgStore) announce(ctx context.Context, ev modEvent) error {
	ev.Instance = s.instance
	p, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", modChannel, string(p))
	return err
}

// listenModeration keeps its own LISTEN connection (see modChannel) and reconnects by
// itself; after each (re)connect it reports a bans event, since notifications sent while
// it was away are lost (deletions are not: readers see them in the rows).
func (s *pgStore) listenModeration(ctx context.Context, on func(modEvent)) {
	s.keepListening(ctx, modChannel, "chat moderation LISTEN connection lost; reconnecting",
		func() { on(modEvent{Bans: true}) },
		func(payload string) {
			var ev modEvent
			if json.Unmarshal([]byte(payload), &ev) == nil && ev.Instance != s.instance {
				on(ev)
			}
		})
}
