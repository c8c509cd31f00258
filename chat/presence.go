package chat

// PresenceSharer adds other instances' visitors to a room's presence (cmd/edge passes
// the fleet's; see Config.Presence).
type PresenceSharer interface {
	// Publish records this instance's distinct visitors in room and returns the
	// fleet's total. On error the hub uses its own count.
	Publish(room string, local int) (total int, err error)
}

// PresenceChanged tells the hub that another instance's count for room changed: the
// room's members here get a fresh presence frame (coalesced by PresenceDelay).
func (h *Hub) PresenceChanged(room string) {
	if r := h.rooms.get(room); r != nil {
		r.presenceChanged()
	}
}

// fleetOnline is the room's presence: its local users plus the other instances'
// visitors as of the last publish.
func (r *room) fleetOnline(local int) int {
	sh := r.rs.presence
	if sh == nil {
		return local
	}
	total, err := sh.Publish(r.id, local)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		return local + r.remote
	}
	r.remote = max(total-local, 0)
	return total
}
