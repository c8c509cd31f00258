package chat

import (
	"context"
	"errors"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// moderation is the hub's operator side: deleting messages, bans (kept in the store,
// enforced from an in-memory copy that every instance refreshes on NOTIFY and every
// PollInterval), the per-address session and room-creation limits, and the word filter.
type moderation struct {
	h        *Hub
	st       modStore
	held     heldStore
	bans     atomic.Pointer[banSet]
	sessions *addrLimiter
	newRooms *roomCap
	filter   atomic.Pointer[filter]

	reload  chan struct{} // asks the refresher to reload bans now
	mu      sync.Mutex    // serialises ban reloads and enforcement
	failing bool          // the last ban reload failed (logged once per outage); guarded by mu
}

func newModeration(h *Hub) (*moderation, error) {
	md := &moderation{
		h: h, st: h.st.(modStore), held: h.st.(heldStore),
		sessions: newAddrLimiter(h.cfg.SessionRate, h.cfg.SessionBurst, h.cfg.MaxTrackedAddrs),
		newRooms: newRoomCap(h.cfg.RoomsPerAddrHour, h.cfg.MaxTrackedAddrs),
		reload:   make(chan struct{}, 1),
	}
	md.bans.Store(newBanSet(nil))
	f, err := newFilter(h.cfg.Filter)
	if err != nil {
		return nil, err
	}
	md.filter.Store(f)
	return md, nil
}

// run refreshes the bans until ctx ends: at once, on every event from another instance,
// and every PollInterval (expiries, missed notifications).
func (md *moderation) run(ctx context.Context) {
	var listener sync.WaitGroup
	listener.Add(1)
	go func() { defer listener.Done(); md.st.listenModeration(ctx, md.onEvent) }()
	defer listener.Wait()
	tick := time.NewTicker(md.h.cfg.PollInterval)
	defer tick.Stop()
	for {
		md.refreshBans(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-md.reload:
		}
	}
}

func (md *moderation) onEvent(ev modEvent) {
	if len(ev.Deleted) > 0 {
		md.h.broadcastDeleted(ev.Deleted)
	}
	if ev.Bans {
		select {
		case md.reload <- struct{}{}:
		default:
		}
	}
}

// refreshBans loads the active bans and closes every connection they cover.
func (md *moderation) refreshBans(ctx context.Context) {
	dctx, cancel := context.WithTimeout(ctx, md.h.cfg.DBTimeout)
	bans, err := md.st.activeBans(dctx)
	cancel()
	md.mu.Lock()
	defer md.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil && !md.failing {
			md.h.log.Warn("chat could not load bans; enforcing the last known ones until it can", zap.Error(err))
		}
		md.failing = true
		return
	}
	if md.failing {
		md.h.log.Info("chat bans loaded again")
		md.failing = false
	}
	bs := newBanSet(bans)
	md.bans.Store(bs)
	md.enforce(bs)
}

// enforce closes the sockets of banned users and addresses with an error frame and 4003.
func (md *moderation) enforce(bs *banSet) int {
	now, n := time.Now(), 0
	for _, s := range md.h.sessions.List() {
		if b := bs.match(s.user.ID, s.ip, now); b != nil {
			s.enqueue(errFrame(bannedError(b), "", ""))
			s.closeWith(CloseBanned, "banned")
			n++
		}
	}
	return n
}

// banned returns the error for a banned user (userID may be "") or address, or nil.
func (md *moderation) banned(userID string, ip netip.Addr) *Error {
	if b := md.bans.Load().match(userID, ip, time.Now()); b != nil {
		return bannedError(b)
	}
	return nil
}

// errModeration wraps a moderation failure in a sentence; *Error values pass through.
func errModeration(doing string, err error) error {
	var e *Error
	var u *unknownIDsError
	switch {
	case errors.As(err, &e), errors.As(err, &u):
		return err
	case isConnErr(err):
		return errorf(CodeUnavailable, "%s: the chat database is unreachable", doing)
	}
	return errorf(CodeInternal, "%s: %v", doing, err)
}

// DeleteMessages marks messages deleted; every member of their rooms on every instance
// gets a "deleted" frame and history serves a placeholder from now on. If any id does
// not exist nothing is deleted.
func (h *Hub) DeleteMessages(ctx context.Context, ids []int64) ([]DeletedRef, error) {
	if e := checkDeleteIDs(ids); e != nil {
		return nil, e
	}
	ids = append([]int64(nil), ids...)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	refs, err := h.mod.st.deleteMessages(ctx, ids)
	if err != nil {
		return nil, errModeration("deleting messages", err)
	}
	h.broadcastDeleted(refs)
	for start := 0; start < len(refs); start += notifyRefs {
		ev := modEvent{Deleted: refs[start:min(start+notifyRefs, len(refs))]}
		if err := h.mod.st.announce(ctx, ev); err != nil {
			h.log.Warn("chat could not announce a deletion to other instances; their members see it on reload", zap.Error(err))
		}
	}
	h.log.Info("chat messages deleted by an operator", zap.Int("count", len(refs)))
	return refs, nil
}

// notifyRefs keeps one NOTIFY payload under Postgres's 8000-byte limit (a ref is at
// most ~100 bytes of JSON).
const notifyRefs = 60

// broadcastDeleted sends {"type":"deleted"} to the members of the rooms on this instance,
// including those still replaying (their history may predate the deletion; the UI
// applies a deletion to a message that arrives after it).
func (h *Hub) broadcastDeleted(refs []DeletedRef) {
	for _, ref := range refs {
		r := h.rooms.get(ref.Room)
		if r == nil {
			continue
		}
		frame := encodeFrame(deletedFrame{Type: "deleted", Room: ref.Room, ID: ref.ID})
		r.mu.RLock()
		for m := range r.members {
			s := m.s
			s.mu.Lock()
			if !m.left {
				s.enqueueLocked(frame)
			}
			s.mu.Unlock()
		}
		r.mu.RUnlock()
	}
}

// replayDeletions tells a member resuming with "after" which messages it may already
// show were deleted while it was away (deleted in the last deletionReplayWindow). The
// frames may arrive before or after the history frame; the UI applies either order.
func (h *Hub) replayDeletions(m *member, after int64) {
	ctx, cancel := context.WithTimeout(h.bgCtx, h.cfg.DBTimeout)
	defer cancel()
	ids, err := h.mod.st.deletedUpTo(ctx, m.r.id, after, time.Now().Add(-deletionReplayWindow), h.cfg.ReplayMax)
	if err != nil || len(ids) == 0 {
		return
	}
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if m.left {
			return
		}
		s.enqueueLocked(encodeFrame(deletedFrame{Type: "deleted", Room: m.r.id, ID: id}))
	}
}

// deletionReplayWindow bounds how far back a resume learns of deletions: a page away
// longer than this has a stale token (TokenTTL defaults to the same) and reloads.
const deletionReplayWindow = 24 * time.Hour

type deletedFrame struct {
	Type string `json:"type"`
	Room string `json:"room"`
	ID   int64  `json:"id"`
}

// Rooms lists the rooms with stored messages or members here, busiest first.
func (h *Hub) Rooms(ctx context.Context) ([]RoomInfo, error) {
	stats, err := h.mod.st.roomStats(ctx)
	if err != nil {
		return nil, errModeration("listing rooms", err)
	}
	seen := make(map[string]bool, len(stats))
	for i := range stats {
		seen[stats[i].Room] = true
		if r := h.rooms.get(stats[i].Room); r != nil {
			stats[i].Online = r.online()
		}
	}
	h.rooms.mu.RLock()
	for id, r := range h.rooms.m {
		if !seen[id] {
			stats = append(stats, RoomInfo{Room: id, Online: r.online()})
		}
	}
	h.rooms.mu.RUnlock()
	sort.Slice(stats, func(i, j int) bool {
		if !stats[i].LastActivity.Equal(stats[j].LastActivity) {
			return stats[i].LastActivity.After(stats[j].LastActivity)
		}
		return stats[i].Room < stats[j].Room
	})
	return stats, nil
}

// BanRequest is what an operator asks for; For 0 bans until unbanned.
type BanRequest struct {
	BanTarget
	For    time.Duration
	Reason string
}

// Ban stores a ban, closes the covered connections here at once and tells the other
// instances (which also pick it up within PollInterval). A user id must have sent a
// message or be connected here, so that a typo does not pass for a ban.
func (h *Hub) Ban(ctx context.Context, req BanRequest) (Ban, int, error) {
	t, _, e := parseBanTarget(req.BanTarget)
	if e != nil {
		return Ban{}, 0, e
	}
	if req.For < 0 {
		return Ban{}, 0, errorf(CodeBadRequest, "the ban duration must be positive")
	}
	if len(req.Reason) > 500 {
		return Ban{}, 0, errorf(CodeBadRequest, "the reason is limited to 500 bytes")
	}
	if t.User != "" && !h.userConnected(t.User) {
		known, err := h.mod.st.userKnown(ctx, t.User)
		if err != nil {
			return Ban{}, 0, errModeration("looking up the user", err)
		}
		if !known {
			return Ban{}, 0, errorf(CodeNotFound, "no user %s has sent a message or is connected; check the id (a message's sender_id)", t.User)
		}
	}
	b := Ban{User: t.User, CIDR: t.CIDR, Reason: req.Reason, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	if req.For > 0 {
		exp := time.Now().Add(req.For).UTC().Truncate(time.Second)
		b.ExpiresAt = &exp
	}
	b, err := h.mod.st.addBan(ctx, b)
	if err != nil {
		return Ban{}, 0, errModeration("storing the ban", err)
	}
	closed := h.mod.applyBans(ctx)
	h.log.Info("chat ban added", zap.String("target", b.target()), zap.Int("connections_closed", closed))
	return b, closed, nil
}

// Unban removes the ban with that id (id > 0) or on that target.
func (h *Hub) Unban(ctx context.Context, id int64, t BanTarget) ([]Ban, error) {
	if id <= 0 {
		var e *Error
		if t, _, e = parseBanTarget(t); e != nil {
			return nil, e
		}
	}
	gone, err := h.mod.st.removeBans(ctx, id, t)
	if err != nil {
		return nil, errModeration("removing the ban", err)
	}
	if len(gone) == 0 {
		what := "ban " + strconv.FormatInt(id, 10)
		if id <= 0 {
			what = "ban on " + (&Ban{User: t.User, CIDR: t.CIDR}).target()
		}
		return nil, errorf(CodeNotFound, "there is no %s; see edge chat bans", what)
	}
	h.mod.applyBans(ctx)
	return gone, nil
}

// Bans lists the active bans.
func (h *Hub) Bans(ctx context.Context) ([]Ban, error) {
	bans, err := h.mod.st.activeBans(ctx)
	if err != nil {
		return nil, errModeration("listing bans", err)
	}
	if bans == nil {
		bans = []Ban{}
	}
	return bans, nil
}

// applyBans reloads the bans here now, enforces them and tells the other instances.
func (md *moderation) applyBans(ctx context.Context) int {
	bans, err := md.st.activeBans(ctx)
	if err != nil {
		select { // the refresher retries
		case md.reload <- struct{}{}:
		default:
		}
		return 0
	}
	md.mu.Lock()
	bs := newBanSet(bans)
	md.bans.Store(bs)
	n := md.enforce(bs)
	md.mu.Unlock()
	if err := md.st.announce(ctx, modEvent{Bans: true}); err != nil {
		md.h.log.Warn("chat could not announce a ban change; other instances apply it within the poll interval", zap.Error(err))
	}
	return n
}

func (h *Hub) userConnected(userID string) bool {
	_, ok := h.sessions.Find(func(s *session) bool { return s.user.ID == userID })
	return ok
}
