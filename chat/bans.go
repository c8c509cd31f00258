package chat

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Ban keeps a user (by public user id) or an address range away from the chat: it
// cannot get a session or open a WebSocket, and its open sockets are closed with 4003.
type Ban struct {
	ID int64 `json:"id"`
	// Exactly one of User and CIDR is set.
	User      string     `json:"user,omitempty"`
	CIDR      string     `json:"cidr,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"` // nil: until unbanned
}

func (b *Ban) active(now time.Time) bool { return b.ExpiresAt == nil || b.ExpiresAt.After(now) }

// target says what the ban covers, for messages.
func (b *Ban) target() string {
	if b.User != "" {
		return "user " + b.User
	}
	return "address range " + b.CIDR
}

// BanTarget is what an operator names to ban or unban: a user id or an address range.
type BanTarget struct {
	User string `json:"user,omitempty"`
	CIDR string `json:"cidr,omitempty"`
}

// parseBanTarget checks a target and returns its canonical form (a CIDR masked to its
// network, a bare address as /32 or /128).
func parseBanTarget(t BanTarget) (BanTarget, netip.Prefix, *Error) {
	switch {
	case t.User != "" && t.CIDR != "":
		return t, netip.Prefix{}, errorf(CodeBadRequest, "name either a user or an address range, not both")
	case t.User != "":
		if !validUserID(t.User) {
			return t, netip.Prefix{}, errorf(CodeBadRequest, "%q is not a user id (u followed by %d hex digits, as in a message's sender_id)", truncate(t.User, 80), userIDHexLen)
		}
		return t, netip.Prefix{}, nil
	case t.CIDR != "":
		p, err := parseCIDR(t.CIDR)
		if err != nil {
			return t, netip.Prefix{}, errorf(CodeBadRequest, "%q is not an address or CIDR range like 203.0.113.0/24 or 2001:db8::/64", truncate(t.CIDR, 80))
		}
		return BanTarget{CIDR: p.String()}, p, nil
	}
	return t, netip.Prefix{}, errorf(CodeBadRequest, "name a user (--user ID) or an address range (--ip CIDR)")
}

func parseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "%") {
		return netip.Prefix{}, fmt.Errorf("zoned addresses are not client addresses")
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("IPv4-mapped ranges are not supported; write the IPv4 range")
	}
	return p.Masked(), nil
}

// banSet is an immutable snapshot of the active bans, matched on every session request
// and WebSocket open.
type banSet struct {
	users  map[string]*Ban
	ranges []banRange
}

type banRange struct {
	p   netip.Prefix
	ban *Ban
}

func newBanSet(bans []Ban) *banSet {
	bs := &banSet{users: map[string]*Ban{}}
	for i := range bans {
		b := &bans[i]
		if b.User != "" {
			bs.users[b.User] = b
			continue
		}
		if p, err := parseCIDR(b.CIDR); err == nil {
			bs.ranges = append(bs.ranges, banRange{p: p, ban: b})
		}
	}
	return bs
}

// match returns the active ban covering the user (if userID is not "") or the address.
func (bs *banSet) match(userID string, ip netip.Addr, now time.Time) *Ban {
	if bs == nil {
		return nil
	}
	if userID != "" {
		if b := bs.users[userID]; b != nil && b.active(now) {
			return b
		}
	}
	ip = ip.Unmap()
	for _, r := range bs.ranges {
		if r.p.Contains(ip) && r.ban.active(now) {
			return r.ban
		}
	}
	return nil
}

func bannedError(b *Ban) *Error {
	msg := "you are banned from this chat"
	if b.ExpiresAt != nil {
		msg += " until " + b.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if b.Reason != "" {
		msg += ": " + b.Reason
	}
	return &Error{Code: CodeBanned, Message: msg}
}
