package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// notifySocket is a real unixgram socket standing in for systemd's notify socket.
type notifySocket struct {
	addr string
	conn *net.UnixConn
}

func newNotifySocket(t testing.TB, abstract bool) *notifySocket {
	t.Helper()
	var addr string
	if abstract {
		addr = fmt.Sprintf("@edge-test-notify-%d-%d", os.Getpid(), time.Now().UnixNano())
	} else {
		dir, err := os.MkdirTemp("", "sdn") // short: unix socket paths are limited to 107 bytes
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		addr = filepath.Join(dir, "notify")
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &notifySocket{addr: addr, conn: conn}
}

// next returns the next datagram, failing the test after timeout.
func (s *notifySocket) next(t testing.TB, timeout time.Duration) string {
	t.Helper()
	buf := make([]byte, 64<<10)
	_ = s.conn.SetReadDeadline(time.Now().Add(timeout))
	n, err := s.conn.Read(buf)
	if err != nil {
		t.Fatalf("no sd_notify message within %s: %v", timeout, err)
	}
	return string(buf[:n])
}

// waitFor reads datagrams until one contains want.
func (s *notifySocket) waitFor(t testing.TB, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("no sd_notify message with %q within %s", want, timeout)
		}
		if m := s.next(t, left); strings.Contains(m, want) {
			return m
		}
	}
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestNotifierSendsEachState(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			sock := newNotifySocket(t, abstract)
			n, err := newNotifier(envOf(map[string]string{"NOTIFY_SOCKET": sock.addr}))
			if err != nil || !n.enabled() {
				t.Fatalf("newNotifier: %v enabled=%v", err, n.enabled())
			}
			if err := n.ready("serving 1 host(s), 1 app(s)"); err != nil {
				t.Fatal(err)
			}
			if got := sock.next(t, 10*time.Second); got != "READY=1\nSTATUS=serving 1 host(s), 1 app(s)\n" {
				t.Errorf("ready sent %q", got)
			}
			before := monotonicUsec()
			if err := n.reloading(); err != nil {
				t.Fatal(err)
			}
			got := sock.next(t, 10*time.Second)
			var usec int64
			if _, err := fmt.Sscanf(got, "RELOADING=1\nMONOTONIC_USEC=%d\n", &usec); err != nil {
				t.Fatalf("reloading sent %q: %v", got, err)
			}
			if usec < before || usec > monotonicUsec() {
				t.Errorf("MONOTONIC_USEC=%d is not the current CLOCK_MONOTONIC (was %d before)", usec, before)
			}
			if err := n.stopping(); err != nil {
				t.Fatal(err)
			}
			if got := sock.next(t, 10*time.Second); !strings.HasPrefix(got, "STOPPING=1\n") {
				t.Errorf("stopping sent %q", got)
			}
			if err := n.status("hello"); err != nil {
				t.Fatal(err)
			}
			if got := sock.next(t, 10*time.Second); got != "STATUS=hello\n" {
				t.Errorf("status sent %q", got)
			}
		})
	}
}

func TestNotifierWithoutSystemdDoesNothing(t *testing.T) {
	n, err := newNotifier(envOf(nil))
	if err != nil || n.enabled() {
		t.Fatalf("unset NOTIFY_SOCKET: err %v enabled %v", err, n.enabled())
	}
	for _, f := range []func() error{func() error { return n.ready("x") }, n.reloading, n.stopping} {
		if err := f(); err != nil {
			t.Errorf("no-op notifier returned %v", err)
		}
	}
	var nilNotifier *notifier
	if err := nilNotifier.ready("x"); err != nil {
		t.Errorf("nil notifier: %v", err)
	}
}

func TestNotifierRejectsHostileSocketValues(t *testing.T) {
	for _, v := range []string{"relative/path", "@", "vsock:2:1234", strings.Repeat("/a", 60), "\x00abc"} {
		n, err := newNotifier(envOf(map[string]string{"NOTIFY_SOCKET": v}))
		if err == nil || n.enabled() {
			t.Errorf("NOTIFY_SOCKET=%q accepted (enabled=%v)", v, n.enabled())
		}
	}
}

func TestNotifierReportsAMissingSocket(t *testing.T) {
	n, err := newNotifier(envOf(map[string]string{"NOTIFY_SOCKET": filepath.Join(t.TempDir(), "gone")}))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.ready("x"); err == nil || !strings.Contains(err.Error(), "notifying systemd") {
		t.Errorf("sending to a missing socket: %v", err)
	}
}

func TestStatusCannotInjectStates(t *testing.T) {
	sock := newNotifySocket(t, false)
	n, _ := newNotifier(envOf(map[string]string{"NOTIFY_SOCKET": sock.addr}))
	if err := n.status("bad\nSTOPPING=1\r\nREADY=1\x00"); err != nil {
		t.Fatal(err)
	}
	got := sock.next(t, 10*time.Second)
	if strings.Count(got, "\n") != 1 || !strings.HasPrefix(got, "STATUS=bad STOPPING=1") {
		t.Errorf("status with newlines sent %q", got)
	}
	long := statusLine(strings.Repeat("한", 1000))
	if len(long) > maxStatusLen+len("STATUS=") || !utf8.ValidString(long) {
		t.Errorf("long status is %d bytes, valid UTF-8 %v", len(long), utf8.ValidString(long))
	}
}

func FuzzStatusLine(f *testing.F) {
	for _, s := range []string{"", "ok", "a\nb", strings.Repeat("é", 600), "\x00\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l := statusLine(s)
		if !strings.HasPrefix(l, "STATUS=") || strings.ContainsAny(l, "\n\r\x00") || len(l) > maxStatusLen+7 {
			t.Fatalf("statusLine(%q) = %q", s, l)
		}
		if utf8.ValidString(s) && !utf8.ValidString(l) {
			t.Fatalf("statusLine broke UTF-8: %q", l)
		}
	})
}
