package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/edge-server/edge/internal/config"
)

// Socket activation (sd_listen_fds without libsystemd). systemd opens the listening
// sockets (systemd/edge.socket) and hands them to edge as fds 3, 4, … with LISTEN_PID,
// LISTEN_FDS and LISTEN_FDNAMES. Because systemd keeps its own copy, the sockets outlive
// edge: during `systemctl restart edge` the kernel queues new connections instead of
// refusing them, and the next edge accepts them.

// listenFDsStart is SD_LISTEN_FDS_START: the first passed fd.
const listenFDsStart = 3

// maxListenFDs bounds LISTEN_FDS; edge uses two, a few more are reported as unused.
const maxListenFDs = 16

// activatedListener is one passed socket and the name systemd gave it.
type activatedListener struct {
	name string
	ln   net.Listener
}

// parseListenEnv checks the three variables and returns how many fds were passed and
// their names (names[i] is "" when LISTEN_FDNAMES is absent). n == 0 means "not socket
// activated" (no variables, or they are meant for another process).
func parseListenEnv(getenv func(string) string, pid int) (n int, names []string, err error) {
	pidStr, fdsStr := getenv("LISTEN_PID"), getenv("LISTEN_FDS")
	if fdsStr == "" {
		return 0, nil, nil
	}
	if pidStr == "" {
		return 0, nil, errors.New("LISTEN_FDS is set without LISTEN_PID; ignoring the passed sockets")
	}
	p, err := strconv.Atoi(pidStr)
	if err != nil || p <= 0 {
		return 0, nil, fmt.Errorf("LISTEN_PID=%q is not a process id; ignoring the passed sockets", clip(pidStr))
	}
	if p != pid {
		return 0, nil, nil // inherited from a parent that was activated; not ours
	}
	n, err = strconv.Atoi(fdsStr)
	if err != nil || n < 0 {
		return 0, nil, fmt.Errorf("LISTEN_FDS=%q is not a count of sockets", clip(fdsStr))
	}
	if n > maxListenFDs {
		return 0, nil, fmt.Errorf("LISTEN_FDS=%d: edge takes at most %d sockets (it uses http and https)", n, maxListenFDs)
	}
	names = make([]string, n)
	if v := getenv("LISTEN_FDNAMES"); v != "" && n > 0 {
		parts := strings.Split(v, ":")
		if len(parts) != n {
			return 0, nil, fmt.Errorf("LISTEN_FDNAMES has %d names for LISTEN_FDS=%d sockets", len(parts), n)
		}
		copy(names, parts)
	}
	return n, names, nil
}

// clip shortens hostile values before they reach a log line.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// inheritListeners turns the passed fds into listeners. Each fd is first checked to be a
// listening socket with getsockopt, so a wrong LISTEN_FDS never makes edge wrap (and
// later close) an fd it does not own; then it is marked close-on-exec, duplicated by
// net.FileListener and the original closed.
func inheritListeners(n int, names []string) ([]activatedListener, error) {
	out := make([]activatedListener, 0, n)
	for i := 0; i < n; i++ {
		fd := listenFDsStart + i
		name := names[i]
		if on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || on != 1 {
			closeActivated(out)
			why := "it is not listening"
			if err != nil {
				why = err.Error()
			}
			return nil, fmt.Errorf("fd %d (%q) passed by systemd is not a listening socket: %s", fd, name, why)
		}
		unix.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), fmt.Sprintf("LISTEN_FD_%d(%s)", fd, name))
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			closeActivated(out)
			return nil, fmt.Errorf("fd %d (%q) passed by systemd is not a stream socket edge can serve on: %w", fd, name, err)
		}
		out = append(out, activatedListener{name: name, ln: ln})
	}
	return out, nil
}

func closeActivated(ls []activatedListener) {
	for _, l := range ls {
		_ = l.ln.Close()
	}
}

// assignListeners decides which passed socket is http and which https:
//  1. by name, when systemd named them "http" / "https" (FileDescriptorName= or
//     systemd-socket-activate --fdname);
//  2. else by port, against listen.http and listen.https in the config;
//  3. else by order: the first is http, the second https.
//
// Sockets left over are returned as unused. They are not an error: the shipped
// edge.socket passes :80 and :443, and a plain-HTTP config (https: "", the usual first
// step before DNS points at the VM, or behind a TLS-terminating balancer) has no use
// for :443. The caller warns and closes its copy; systemd keeps the socket.
func assignListeners(ls []activatedListener, httpAddr, httpsAddr string) (httpLn, httpsLn net.Listener, unused []activatedListener) {
	roles := make([]string, len(ls))
	named := false
	for i, l := range ls {
		if l.name == "http" || l.name == "https" {
			roles[i], named = l.name, true
		}
	}
	if !named {
		byPort := false
		for i, l := range ls {
			if r := roleByPort(l.ln.Addr(), httpAddr, httpsAddr); r != "" {
				roles[i], byPort = r, true
			}
		}
		if !byPort {
			for i := range ls {
				roles[i] = [...]string{"http", "https", ""}[min(i, 2)]
			}
		}
	}
	for i, l := range ls {
		switch {
		case roles[i] == "http" && httpLn == nil:
			httpLn = l.ln
		case roles[i] == "https" && httpsLn == nil:
			httpsLn = l.ln
		default:
			unused = append(unused, l)
		}
	}
	return httpLn, httpsLn, unused
}

// describeListeners names sockets for a log line: "[::]:443 (name "edge.socket")".
func describeListeners(ls []activatedListener) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%s (name %q)", l.ln.Addr(), l.name)
	}
	return strings.Join(parts, ", ")
}

// roleByPort matches a listener's port with the configured addresses' ports.
func roleByPort(a net.Addr, httpAddr, httpsAddr string) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return ""
	}
	port := strconv.Itoa(tcp.Port)
	for _, c := range []struct{ role, addr string }{{"http", httpAddr}, {"https", httpsAddr}} {
		if _, p, err := net.SplitHostPort(c.addr); err == nil && p == port {
			return c.role
		}
	}
	return ""
}

// takeActivatedListeners puts the sockets systemd passed into cfg.Proxy.HTTPListener and
// HTTPSListener and unsets LISTEN_* so nothing edge starts inherits them. Without socket
// activation it changes nothing and the proxy listens on the configured addresses itself.
func takeActivatedListeners(cfg *config.Config, log *zap.Logger) error {
	n, names, err := parseListenEnv(os.Getenv, os.Getpid())
	for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		_ = os.Unsetenv(k)
	}
	if err != nil {
		return fmt.Errorf("socket activation: %w", err)
	}
	if n == 0 {
		return nil
	}
	ls, err := inheritListeners(n, names)
	if err != nil {
		return fmt.Errorf("socket activation: %w", err)
	}
	httpLn, httpsLn, unused := assignListeners(ls, cfg.Proxy.HTTPAddr, cfg.Proxy.HTTPSAddr)
	if len(unused) > 0 {
		log.Warn("systemd passed sockets edge has no use for; leaving them unused (systemd keeps them open). "+
			"edge takes one http and one https socket: name them with FileDescriptorName=http / https, "+
			"use ports matching listen.http / listen.https, or drop the extra ListenStream= from edge.socket",
			zap.String("unused", describeListeners(unused)),
			zap.String("listen.http", cfg.Proxy.HTTPAddr), zap.String("listen.https", cfg.Proxy.HTTPSAddr))
		closeActivated(unused)
	}
	if httpsLn != nil && cfg.Proxy.HTTPSAddr == "" {
		log.Warn("systemd passed an https socket but listen.https is empty; serving plain HTTP only and leaving it unused",
			zap.Stringer("addr", httpsLn.Addr()))
		_ = httpsLn.Close()
		httpsLn = nil
	}
	cfg.Proxy.HTTPListener, cfg.Proxy.HTTPSListener = httpLn, httpsLn
	fields := []zap.Field{zap.Int("sockets", n)}
	if httpLn != nil {
		fields = append(fields, zap.Stringer("http", httpLn.Addr()))
	}
	if httpsLn != nil {
		fields = append(fields, zap.Stringer("https", httpsLn.Addr()))
	}
	log.Info("using sockets passed by systemd", fields...)
	return nil
}
