package main

import (
	"fmt"
	"net"
	"strings"

	"golang.org/x/sys/unix"
)

// notifier speaks the sd_notify protocol (one datagram per message to $NOTIFY_SOCKET)
// without libsystemd. A nil *notifier, or one made with NOTIFY_SOCKET unset, does
// nothing, so callers never check whether edge runs under systemd.
type notifier struct {
	addr *net.UnixAddr
}

// maxStatusLen caps STATUS= so a message always fits one datagram.
const maxStatusLen = 1024

// newNotifier reads NOTIFY_SOCKET through getenv. The value is a path ("/run/systemd/notify")
// or an abstract socket name ("@name"); anything else (e.g. vsock addresses of newer
// systemd versions) is an error so it is reported instead of silently ignored.
func newNotifier(getenv func(string) string) (*notifier, error) {
	v := getenv("NOTIFY_SOCKET")
	switch {
	case v == "":
		return &notifier{}, nil
	case len(v) > 107:
		return &notifier{}, fmt.Errorf("NOTIFY_SOCKET is %d bytes long; a unix socket address holds at most 107", len(v))
	case v[0] == '/' || (v[0] == '@' && len(v) > 1):
		// Go turns a leading '@' into the abstract namespace's NUL byte.
		return &notifier{addr: &net.UnixAddr{Name: v, Net: "unixgram"}}, nil
	default:
		return &notifier{}, fmt.Errorf("NOTIFY_SOCKET=%q is neither a path nor an abstract socket (@name); not notifying systemd", v)
	}
}

// enabled says whether messages go anywhere.
func (n *notifier) enabled() bool { return n != nil && n.addr != nil }

// send writes one notification. Lines are KEY=VALUE, joined with newlines.
func (n *notifier) send(lines ...string) error {
	if !n.enabled() {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("notifying systemd at %s: %w", n.addr.Name, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		return fmt.Errorf("notifying systemd at %s: %w", n.addr.Name, err)
	}
	return nil
}

// ready tells systemd that edge serves (Type=notify ends "activating" here).
func (n *notifier) ready(status string) error {
	return n.send("READY=1", statusLine(status))
}

// reloading starts a reload; systemd shows "reloading" until the next ready.
// MONOTONIC_USEC is required by Type=notify-reload and harmless with Type=notify.
func (n *notifier) reloading() error {
	return n.send("RELOADING=1", fmt.Sprintf("MONOTONIC_USEC=%d", monotonicUsec()), statusLine("reloading configuration"))
}

// stopping tells systemd that shutdown (draining) has begun.
func (n *notifier) stopping() error {
	return n.send("STOPPING=1", statusLine("draining connections"))
}

// status updates the free-form line `systemctl status` shows.
func (n *notifier) status(s string) error { return n.send(statusLine(s)) }

// statusLine makes STATUS= one bounded line whatever s holds.
func statusLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == 0 {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxStatusLen {
		cut := maxStatusLen
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return "STATUS=" + s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// monotonicUsec is CLOCK_MONOTONIC in microseconds, the clock systemd compares against.
func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1000
}
