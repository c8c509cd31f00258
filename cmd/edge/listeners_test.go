package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/edge-server/edge/internal/config"
)

// listenersChild runs in a child process started with sockets in ExtraFiles: it calls
// takeActivatedListeners like `edge run` does, prints what it got as one JSON line,
// then answers one connection on each listener with the role it assigned.
func listenersChild() int {
	cfg := config.Default("child.yaml")
	cfg.Proxy.HTTPAddr, cfg.Proxy.HTTPSAddr = os.Getenv("EDGE_TEST_HTTP"), os.Getenv("EDGE_TEST_HTTPS")
	rep := childReport{}
	core, logs := observer.New(zap.WarnLevel)
	if err := takeActivatedListeners(cfg, zap.New(core)); err != nil {
		rep.Err = err.Error()
	}
	for _, e := range logs.All() {
		rep.Warnings = append(rep.Warnings, e.Message+" "+fmt.Sprint(e.ContextMap()))
	}
	for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		if _, ok := os.LookupEnv(k); ok {
			rep.LeftEnv = append(rep.LeftEnv, k)
		}
	}
	roles := map[string]net.Listener{"http": cfg.Proxy.HTTPListener, "https": cfg.Proxy.HTTPSListener}
	for role, ln := range roles {
		if ln != nil {
			rep.Addrs = append(rep.Addrs, role+"="+ln.Addr().String())
		}
	}
	b, _ := json.Marshal(rep)
	fmt.Println(string(b))
	errs := make(chan error, 2)
	for role, ln := range roles {
		if ln == nil {
			errs <- nil
			continue
		}
		go func() { // both at once: the parent may connect in either order
			_ = ln.(interface{ SetDeadline(time.Time) error }).SetDeadline(time.Now().Add(60 * time.Second))
			c, err := ln.Accept()
			if err == nil {
				fmt.Fprintln(c, role)
				c.Close()
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			fmt.Fprintln(os.Stderr, "accept:", err)
			return 1
		}
	}
	return 0
}

type childReport struct {
	Addrs    []string `json:"addrs"`
	Err      string   `json:"err"`
	LeftEnv  []string `json:"left_env"`
	Warnings []string `json:"warnings"`
}

// listenTCP opens a real loopback listener and returns it with a dup of its fd.
func listenTCP(t *testing.T) (net.Listener, *os.File) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); f.Close() })
	return ln, f
}

// startActivated runs the test binary as listenersChild with files as fds 3, 4, … and
// env; a shell sets LISTEN_PID to the child's own pid before exec, as systemd does
// between fork and exec. It returns the child's report.
func startActivated(t *testing.T, files []*os.File, env ...string) (childReport, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", `[ -n "$EDGE_TEST_LISTEN_PID" ] || export LISTEN_PID=$$; exec "$0"`, os.Args[0])
	cmd.Env = append(os.Environ(), testChildEnv+"=listeners")
	cmd.Env = append(cmd.Env, env...)
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := readLineWithin(t, out, 60*time.Second)
	var rep childReport
	if err := json.Unmarshal([]byte(line), &rep); err != nil {
		t.Fatalf("child report %q: %v", line, err)
	}
	return rep, cmd
}

// roleAt connects to addr and returns the role line the child answers with.
func roleAt(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading role from %s: %v", addr, err)
	}
	return strings.TrimSpace(line)
}

func TestSocketActivationHandsOverRealListeners(t *testing.T) {
	a, fa := listenTCP(t)
	b, fb := listenTCP(t)
	c, fc := listenTCP(t)
	portOf := func(l net.Listener) string { return strconv.Itoa(l.Addr().(*net.TCPAddr).Port) }
	two, three := []*os.File{fa, fb}, []*os.File{fa, fb, fc}
	tests := []struct {
		name      string
		files     []*os.File
		env       []string
		wantHTTP  net.Listener
		wantHTTPS net.Listener
		wantWarn  net.Listener // the socket a warning names as unused
	}{
		{"by name, https passed first", two, []string{"LISTEN_FDS=2", "LISTEN_FDNAMES=https:http", "EDGE_TEST_HTTP=:80", "EDGE_TEST_HTTPS=:443"}, b, a, nil},
		{"by port (one unit, default names)", two, []string{"LISTEN_FDS=2", "LISTEN_FDNAMES=edge.socket:edge.socket",
			"EDGE_TEST_HTTP=:" + portOf(b), "EDGE_TEST_HTTPS=:" + portOf(a)}, b, a, nil},
		{"by order without names", two, []string{"LISTEN_FDS=2", "EDGE_TEST_HTTP=:80", "EDGE_TEST_HTTPS=:443"}, a, b, nil},
		{"https socket unused in plain HTTP mode", two, []string{"LISTEN_FDS=2", "LISTEN_FDNAMES=http:https", "EDGE_TEST_HTTP=:80", "EDGE_TEST_HTTPS="}, a, nil, b},
		// The shipped edge.socket (:80, :443, default names) with https: "" (issue 14).
		{"shipped unit, plain HTTP: https port unused", two, []string{"LISTEN_FDS=2", "LISTEN_FDNAMES=edge.socket:edge.socket",
			"EDGE_TEST_HTTP=:" + portOf(a), "EDGE_TEST_HTTPS="}, a, nil, b},
		{"three sockets: the third is unused", three, []string{"LISTEN_FDS=3", "EDGE_TEST_HTTP=:80", "EDGE_TEST_HTTPS=:443"}, a, b, c},
		{"two http sockets: the second is unused", two, []string{"LISTEN_FDS=2", "LISTEN_FDNAMES=http:http", "EDGE_TEST_HTTP=:80", "EDGE_TEST_HTTPS=:443"}, a, nil, b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, cmd := startActivated(t, tt.files, tt.env...)
			if rep.Err != "" || len(rep.LeftEnv) > 0 {
				t.Fatalf("child: err %q, env left %v", rep.Err, rep.LeftEnv)
			}
			if w := strings.Join(rep.Warnings, "\n"); tt.wantWarn == nil && w != "" ||
				tt.wantWarn != nil && !strings.Contains(w, tt.wantWarn.Addr().String()) {
				t.Errorf("warnings %q; want one naming %v as unused", w, tt.wantWarn)
			}
			want := []string{}
			for _, w := range []struct {
				role string
				ln   net.Listener
			}{{"http", tt.wantHTTP}, {"https", tt.wantHTTPS}} {
				if w.ln != nil {
					want = append(want, w.role+"="+w.ln.Addr().String())
					if got := roleAt(t, w.ln.Addr().String()); got != w.role {
						t.Errorf("%s answered as %q, want %q", w.ln.Addr(), got, w.role)
					}
				}
			}
			if strings.Join(sorted(rep.Addrs), " ") != strings.Join(sorted(want), " ") {
				t.Errorf("child got %v, want %v", rep.Addrs, want)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("child exited: %v", err)
			}
		})
	}
}

func TestSocketActivationRejectsBadHandover(t *testing.T) {
	_, fa := listenTCP(t)
	_, fb := listenTCP(t)
	regular, err := os.CreateTemp(t.TempDir(), "notasocket")
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	fudp, err := udp.(*net.UDPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer fudp.Close()
	tests := []struct {
		name    string
		files   []*os.File
		env     []string
		wantErr string // "" = not activated, no listeners, no error
	}{
		{"count is not a number", []*os.File{fa}, []string{"LISTEN_FDS=two"}, "not a count"},
		{"absurd count", []*os.File{fa}, []string{"LISTEN_FDS=100000"}, "at most 16"},
		{"more fds claimed than passed", []*os.File{fa}, []string{"LISTEN_FDS=2"}, "not a listening socket"},
		{"regular file", []*os.File{regular}, []string{"LISTEN_FDS=1"}, "not a listening socket"},
		{"udp socket", []*os.File{fudp}, []string{"LISTEN_FDS=1"}, "not a listening socket"},
		{"names do not match count", []*os.File{fa, fb}, []string{"LISTEN_FDS=2", "LISTEN_FDNAMES=http"}, "1 names for LISTEN_FDS=2"},
		{"meant for another process", []*os.File{fa}, []string{"LISTEN_FDS=1", "EDGE_TEST_LISTEN_PID=1", "LISTEN_PID=1"}, ""},
		{"pid is garbage", []*os.File{fa}, []string{"LISTEN_FDS=1", "EDGE_TEST_LISTEN_PID=1", "LISTEN_PID=$(reboot)"}, "not a process id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, cmd := startActivated(t, tt.files, append(tt.env, "EDGE_TEST_HTTP=:80", "EDGE_TEST_HTTPS=:443")...)
			if tt.wantErr == "" && rep.Err != "" || !strings.Contains(rep.Err, tt.wantErr) {
				t.Errorf("error %q, want one containing %q", rep.Err, tt.wantErr)
			}
			if len(rep.Addrs) != 0 || len(rep.LeftEnv) != 0 {
				t.Errorf("listeners %v, env left %v", rep.Addrs, rep.LeftEnv)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("child exited: %v", err)
			}
		})
	}
}

// TestSocketActivationWithSystemdSocketActivate uses systemd's own tool to pass the
// sockets, so the variables are exactly what systemd sets. The tool listens, and on the
// first connection execs the program with the sockets (that connection waits in the
// backlog and is answered by the child).
func TestSocketActivationWithSystemdSocketActivate(t *testing.T) {
	tool, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Fatalf("systemd-socket-activate is missing (Debian package systemd; scripts/prereqs.sh installs it): %v", err)
	}
	addrs := [2]string{freeAddr(t), freeAddr(t)}
	cmd := exec.Command(tool, "-l", addrs[0], "-l", addrs[1], "--fdname=http:https",
		"-E", testChildEnv+"=listeners", "-E", "EDGE_TEST_HTTP=:80", "-E", "EDGE_TEST_HTTPS=:443", os.Args[0])
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var first net.Conn
	for deadline := time.Now().Add(30 * time.Second); first == nil; {
		if first, err = net.DialTimeout("tcp", addrs[0], 5*time.Second); err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("systemd-socket-activate never listened on %s: %v\n%s", addrs[0], err, stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	defer first.Close()
	line := readLineWithin(t, out, 60*time.Second)
	var rep childReport
	if err := json.Unmarshal([]byte(line), &rep); err != nil {
		t.Fatalf("child report %q: %v\n%s", line, err, stderr.String())
	}
	if rep.Err != "" || len(rep.LeftEnv) != 0 || len(rep.Addrs) != 2 {
		t.Fatalf("child: addrs %v, err %q, env left %v", rep.Addrs, rep.Err, rep.LeftEnv)
	}
	if got := readLineWithin(t, first, 60*time.Second); got != "http" {
		t.Errorf("%s answered %q, want http", addrs[0], got)
	}
	if got := roleAt(t, addrs[1]); got != "https" {
		t.Errorf("%s answered %q, want https", addrs[1], got)
	}
}

// readLineWithin reads one line or fails the test after timeout (a hung child must not
// hang the test binary).
func readLineWithin(t *testing.T, r io.Reader, timeout time.Duration) string {
	t.Helper()
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := bufio.NewReader(r).ReadString('\n')
		ch <- res{strings.TrimSpace(s), err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("reading a line: %v", r.err)
		}
		return r.s
	case <-time.After(timeout):
		t.Fatalf("no line within %s", timeout)
		return ""
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestParseListenEnv(t *testing.T) {
	pid := 4242
	tests := []struct {
		env   map[string]string
		n     int
		names []string
		err   string
	}{
		{map[string]string{}, 0, nil, ""},
		{map[string]string{"LISTEN_FDS": "1"}, 0, nil, "without LISTEN_PID"},
		{map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "http:https"}, 2, []string{"http", "https"}, ""},
		{map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "2"}, 2, []string{"", ""}, ""},
		{map[string]string{"LISTEN_PID": "4243", "LISTEN_FDS": "2"}, 0, nil, ""},
		{map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "-1"}, 0, nil, "not a count"},
		{map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "0"}, 0, []string{}, ""},
		{map[string]string{"LISTEN_PID": "0", "LISTEN_FDS": "1"}, 0, nil, "not a process id"},
		{map[string]string{"LISTEN_PID": strings.Repeat("9", 500), "LISTEN_FDS": "1"}, 0, nil, "not a process id"},
		{map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "17"}, 0, nil, "at most 16"},
		{map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "a:b:c"}, 0, nil, "3 names"},
	}
	for i, tt := range tests {
		n, names, err := parseListenEnv(envOf(tt.env), pid)
		if n != tt.n || fmt.Sprint(names) != fmt.Sprint(tt.names) || (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%d %v: got %d %q %v; want %d %q %q", i, tt.env, n, names, err, tt.n, tt.names, tt.err)
		}
		if err != nil && len(err.Error()) > 300 {
			t.Errorf("%d: error echoes hostile input: %d bytes", i, len(err.Error()))
		}
	}
}

func FuzzParseListenEnv(f *testing.F) {
	f.Add("1", "2", "http:https")
	f.Add("1", "99999999999999999999", "")
	f.Add("x", "1", ":::")
	f.Fuzz(func(t *testing.T, pid, fds, names string) {
		n, got, err := parseListenEnv(envOf(map[string]string{"LISTEN_PID": pid, "LISTEN_FDS": fds, "LISTEN_FDNAMES": names}), 1)
		if err != nil {
			if n != 0 {
				t.Fatalf("error with n=%d", n)
			}
			return
		}
		if n < 0 || n > maxListenFDs || (n > 0 && len(got) != n) {
			t.Fatalf("n=%d names=%q", n, got)
		}
	})
}
