package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// checkPorts checks that each configured listen address can be bound, or is held by
// edge (running) or by systemd (edge.socket).
func (d *doctor) checkPorts() {
	type port struct{ key, addr string }
	ports := []port{{"listen.http", d.cfg.Proxy.HTTPAddr}}
	if d.cfg.Proxy.HTTPSAddr != "" {
		ports = append(ports, port{"listen.https", d.cfg.Proxy.HTTPSAddr})
	}
	if d.cfg.Metrics != "" {
		ports = append(ports, port{"metrics", d.cfg.Metrics})
	}
	for _, p := range ports {
		d.checkPort(p.key, p.addr)
	}
}

func (d *doctor) checkPort(key, addr string) {
	what := fmt.Sprintf("%s %s", key, addr)
	if d.running {
		if somethingListens(addr) {
			d.pass(what + " is held by the running edge")
		} else {
			d.fail(what+" is not listening although edge runs: was it started with another config?",
				"sudo systemctl restart edge (listen addresses change only on restart)")
		}
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		ln.Close()
		d.pass(what + " is free")
		return
	}
	_, portStr, _ := net.SplitHostPort(addr)
	switch {
	case errors.Is(err, syscall.EACCES):
		if !somethingListens(addr) {
			d.pass(what + " is free (binding it needs CAP_NET_BIND_SERVICE, which edge.service grants)")
			return
		}
	case !errors.Is(err, syscall.EADDRINUSE):
		d.fail(fmt.Sprintf("%s cannot be bound: %v", what, err), "check that the address belongs to this machine (ip addr)")
		return
	}
	port, _ := strconv.Atoi(portStr)
	pid, comm := portOwner(port)
	switch {
	case pid == 1 || comm == "systemd":
		d.pass(what + " is held by systemd (edge.socket); edge starts on the first connection")
	case comm == "edge":
		d.fail(fmt.Sprintf("%s is held by an edge process (pid %d) that does not answer on %s", what, pid, d.socket),
			"is it started with another config? sudo systemctl status edge; otherwise kill "+strconv.Itoa(pid))
	case pid > 0:
		d.fail(fmt.Sprintf("%s is in use by %s (pid %d)", what, comm, pid),
			fmt.Sprintf("stop %s (if it is a service: sudo systemctl disable --now %s) or change %s in the config", comm, comm, key))
	default:
		d.fail(what+" is in use by another program", fmt.Sprintf("find it: sudo ss -ltnp 'sport = :%s'; stop it or change %s", portStr, key))
	}
}

// somethingListens says whether a TCP connection to addr (":80" means loopback) succeeds.
func somethingListens(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// portOwner finds the process with a TCP socket listening on port: the socket's inode
// from /proc/net/tcp{,6}, then the process holding that inode in /proc/*/fd. It returns
// 0, "" when it cannot tell (other users' processes are invisible without root).
func portOwner(port int) (pid int, comm string) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		for _, ino := range listeningInodes(f, port) {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return 0, ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		fds, err := os.ReadDir(filepath.Join(p, "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(p, "fd", fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
				pid, _ = strconv.Atoi(filepath.Base(p))
				b, _ := os.ReadFile(filepath.Join(p, "comm"))
				return pid, strings.TrimSpace(string(b))
			}
		}
	}
	return 0, ""
}

// listeningInodes returns the inodes of sockets in state LISTEN (0A) on port.
func listeningInodes(file string, port int) []string {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(fields[1], ":")
		if p, err := strconv.ParseInt(hexPort, 16, 32); ok && err == nil && int(p) == port {
			out = append(out, fields[9])
		}
	}
	return out
}
