package chat

import (
	"net/netip"
	"testing"
	"time"
)

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct{ ip, want string }{
		{"192.0.2.7", "192.0.2.7/32"},
		{"::ffff:192.0.2.7", "192.0.2.7/32"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
	} {
		if got := addrKey(netip.MustParseAddr(tc.ip)); got.String() != tc.want {
			t.Errorf("addrKey(%s) = %s, want %s", tc.ip, got, tc.want)
		}
	}
}

// Rotating through a /64 does not give an IPv6 client fresh buckets; a flood of
// distinct keys keeps the table bounded.
func TestAddrLimiterIPv6AndBound(t *testing.T) {
	l := newAddrLimiter(1, 5, 100)
	now := time.Unix(1000, 0)
	ok := 0
	for i := range 50 {
		ip := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})
		if pass, wait := l.take(ip, now); pass {
			ok++
		} else if wait < time.Second {
			t.Fatalf("wait %v", wait)
		}
	}
	if ok != 5 {
		t.Fatalf("%d of 50 addresses in one /64 passed, want the burst (5)", ok)
	}
	for i := range 10000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.take(ip, now)
		if len(l.m) > 100 {
			t.Fatalf("limiter tracks %d keys, bound 100", len(l.m))
		}
	}
	if pass, _ := l.take(netip.MustParseAddr("2001:db8::1"), now.Add(10*time.Second)); !pass {
		t.Fatal("a refilled bucket must pass")
	}
}

func TestRoomCapBound(t *testing.T) {
	c := newRoomCap(2, 3)
	now := time.Unix(1000, 0)
	for i := range 3 {
		if !c.allow(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), "r", now) {
			t.Fatal("first room refused")
		}
	}
	if c.allow(netip.MustParseAddr("10.0.0.9"), "r", now) {
		t.Fatal("a full table must refuse new addresses rather than forget counted ones")
	}
	if !c.allow(netip.MustParseAddr("10.0.0.9"), "r", now.Add(time.Hour)) {
		t.Fatal("expired windows must make room")
	}
}

func TestParseBanTarget(t *testing.T) {
	for in, want := range map[string]string{"203.0.113.77/24": "203.0.113.0/24", "203.0.113.5": "203.0.113.5/32",
		"2001:db8::1/64": "2001:db8::/64", "::ffff:1.2.3.4": "1.2.3.4/32"} {
		got, _, e := parseBanTarget(BanTarget{CIDR: in})
		if e != nil || got.CIDR != want {
			t.Errorf("%s: %v %v, want %s", in, got, e, want)
		}
	}
	for _, bad := range []string{"1.2.3.4/33", "::ffff:1.2.3.0/120", "1.2.3", "", " /8"} {
		if _, _, e := parseBanTarget(BanTarget{CIDR: bad}); e == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParseBanTarget: whatever is accepted comes back in canonical form (masked, no
// IPv4-mapped ranges) and parsing the canonical form again is the identity.
func FuzzParseBanTarget(f *testing.F) {
	for _, s := range []string{"203.0.113.77/24", "203.0.113.5", "2001:db8::1/64", "::ffff:1.2.3.4", "1.2.3.4/33",
		"::ffff:1.2.3.0/120", "0.0.0.0/0", "::/0", "fe80::1%eth0", " 10.0.0.1 ", "1.2.3.4/08", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, p, e := parseBanTarget(BanTarget{CIDR: s})
		if e != nil {
			return
		}
		if p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" || !p.IsValid() {
			t.Fatalf("%q accepted as %v (not canonical)", s, p)
		}
		again, p2, e := parseBanTarget(got)
		if e != nil || again != got || p2 != p {
			t.Fatalf("%q → %q → %q %v (%v)", s, got.CIDR, again.CIDR, p2, e)
		}
	})
}
