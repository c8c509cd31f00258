package chat

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// modStore is the moderation side of a store (pgStore and memStore implement both).
// It is a separate interface so that the message path (store) does not grow with it.
type modStore interface {
	// deleteMessages marks the messages deleted (already deleted ones are fine) and
	// returns where they were, in id order. If any id does not exist nothing is changed
	// and the error is an *unknownIDsError.
	deleteMessages(ctx context.Context, ids []int64) ([]DeletedRef, error)
	// deletedUpTo lists the ids <= upTo in room deleted after since (at most limit).
	deletedUpTo(ctx context.Context, room string, upTo int64, since time.Time, limit int) ([]int64, error)
	// roomStats counts the stored messages per room.
	roomStats(ctx context.Context) ([]RoomInfo, error)
	// userKnown reports whether userID has ever sent a message.
	userKnown(ctx context.Context, userID string) (bool, error)
	addBan(ctx context.Context, b Ban) (Ban, error)
	// removeBans deletes the bans with that id (id > 0) or that target and returns them.
	removeBans(ctx context.Context, id int64, t BanTarget) ([]Ban, error)
	// activeBans lists bans not yet expired, oldest first.
	activeBans(ctx context.Context) ([]Ban, error)
	// listenModeration calls on for every moderation event another instance announced,
	// and once with a bans event after each (re)connect (events may have been missed);
	// it returns when ctx ends.
	listenModeration(ctx context.Context, on func(modEvent))
	// announce tells the other instances about an event (best effort; they also poll).
	announce(ctx context.Context, ev modEvent) error
}

// DeletedRef names a deleted message.
type DeletedRef struct {
	ID   int64  `json:"id"`
	Room string `json:"room"`
}

// RoomInfo is one room in `edge chat rooms`.
type RoomInfo struct {
	Room         string    `json:"room"`
	Messages     int64     `json:"messages"`
	LastActivity time.Time `json:"last_activity,omitzero"`
	// Online is the number of distinct users in the room on this instance.
	Online int `json:"online"`
}

type unknownIDsError struct{ ids []int64 }

func (e *unknownIDsError) Error() string { return e.sentence("message", "deleted") }

func (e *unknownIDsError) heldError() string { return e.sentence("held message", "changed") }

func (e *unknownIDsError) sentence(what, done string) string {
	s := make([]string, len(e.ids))
	for i, id := range e.ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	if len(s) == 1 {
		return "there is no " + what + " with id " + s[0] + "; nothing was " + done
	}
	return "there are no " + what + "s with ids " + strings.Join(s, ", ") + "; nothing was " + done
}

// modEvent is what instances tell each other: messages deleted, or "the bans changed,
// reload them".
type modEvent struct {
	Instance string       `json:"i"`
	Deleted  []DeletedRef `json:"d,omitempty"`
	Bans     bool         `json:"b,omitempty"`
}

// Memory store: the demo's single instance.

func (s *memStore) deleteMessages(ctx context.Context, ids []int64) ([]DeletedRef, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := make([]int, len(ids))
	var missing []int64
	for i, id := range ids {
		j := sort.Search(len(s.all), func(k int) bool { return s.all[k].ID >= id })
		if j == len(s.all) || s.all[j].ID != id {
			missing = append(missing, id)
		}
		idx[i] = j
	}
	if missing != nil {
		return nil, &unknownIDsError{ids: missing}
	}
	refs := make([]DeletedRef, 0, len(ids))
	for _, j := range idx {
		m := &s.all[j]
		markDeleted(m)
		r := s.rooms[m.Room]
		if k := sort.Search(len(r), func(k int) bool { return r[k].ID >= m.ID }); k < len(r) && r[k].ID == m.ID {
			markDeleted(&r[k])
		}
		if o, ok := s.byID[m.ID]; ok {
			markDeleted(&o)
			s.byID[m.ID] = o
		}
		refs = append(refs, DeletedRef{ID: m.ID, Room: m.Room})
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].ID < refs[j].ID })
	return refs, nil
}

func markDeleted(m *Message) { m.Content, m.Deleted = "", true }

// deletedUpTo: the memory store keeps no deletion times; every deleted message of the
// room up to upTo is reported (the demo store is small).
func (s *memStore) deletedUpTo(ctx context.Context, room string, upTo int64, _ time.Time, limit int) ([]int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []int64
	for _, m := range s.rooms[room] {
		if m.ID > upTo || len(out) >= limit {
			break
		}
		if m.Deleted {
			out = append(out, m.ID)
		}
	}
	return out, ctx.Err()
}

func (s *memStore) roomStats(ctx context.Context) ([]RoomInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]RoomInfo, 0, len(s.rooms))
	for id, r := range s.rooms {
		out = append(out, RoomInfo{Room: id, Messages: int64(len(r)), LastActivity: r[len(r)-1].CreatedAt})
	}
	return out, ctx.Err()
}

func (s *memStore) userKnown(ctx context.Context, userID string) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := range s.all {
		if s.all[i].SenderID == userID {
			return true, nil
		}
	}
	return false, ctx.Err()
}

func (s *memStore) addBan(ctx context.Context, b Ban) (Ban, error) {
	s.banMu.Lock()
	defer s.banMu.Unlock()
	s.banSeq++
	b.ID = s.banSeq
	s.bans = append(s.bans, b)
	return b, ctx.Err()
}

func (s *memStore) removeBans(ctx context.Context, id int64, t BanTarget) ([]Ban, error) {
	s.banMu.Lock()
	defer s.banMu.Unlock()
	var gone []Ban
	kept := s.bans[:0]
	for _, b := range s.bans {
		if (id > 0 && b.ID == id) || (id == 0 && ((t.User != "" && b.User == t.User) || (t.CIDR != "" && b.CIDR == t.CIDR))) {
			gone = append(gone, b)
			continue
		}
		kept = append(kept, b)
	}
	s.bans = kept
	return gone, ctx.Err()
}

func (s *memStore) activeBans(ctx context.Context) ([]Ban, error) {
	s.banMu.Lock()
	defer s.banMu.Unlock()
	now := time.Now()
	var out []Ban
	for _, b := range s.bans {
		if b.active(now) {
			out = append(out, b)
		}
	}
	return out, ctx.Err()
}

func (s *memStore) listenModeration(ctx context.Context, _ func(modEvent)) { <-ctx.Done() }

func (s *memStore) announce(context.Context, modEvent) error { return nil }

// checkDeleteIDs refuses an empty or oversized list before anything is touched.
func checkDeleteIDs(ids []int64) *Error {
	if len(ids) == 0 {
		return errorf(CodeBadRequest, "name at least one message id")
	}
	if len(ids) > maxDeleteIDs {
		return errorf(CodeBadRequest, "at most %d messages can be deleted at once", maxDeleteIDs)
	}
	for _, id := range ids {
		if id <= 0 {
			return errorf(CodeBadRequest, "%s is not a message id (ids are positive numbers)", fmt.Sprint(id))
		}
	}
	return nil
}

const maxDeleteIDs = 1000
