package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Server is a PostgreSQL server used by tests: either the private cluster or the one
// EDGE_TEST_DATABASE_URL points at (which cannot be stopped).
type Server struct {
	base    *url.URL // maintenance database URL
	running atomic.Bool

	mu    sync.Mutex
	bin   string // directory with initdb and postgres; "" for an external server
	dir   string // temp dir: data/, sockets, log
	port  int
	cred  *syscall.Credential
	proc  *exec.Cmd
	exitc chan struct{}
}

// Running reports whether the server is up (as far as this process started it).
func (s *Server) Running() bool { return s.running.Load() }

// URL of the maintenance database, for tests that want to create their own.
func (s *Server) URL() string { return s.base.String() }

const installHint = "install PostgreSQL: apt-get install -y postgresql (or set " + EnvURL + ")"

func startPrivate() (*Server, error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, initdb must run as user postgres, which does not exist: %v; %s", err, installHint)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	s.dir, err = os.MkdirTemp("", "edge-pgtest-")
	if err != nil {
		return nil, err
	}
	if err := s.chown(s.dir); err != nil {
		return nil, err
	}
	if out, err := s.command("initdb", "-D", s.dataDir(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C").CombinedOutput(); err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, fmt.Errorf("initdb failed: %v\n%s", err, out)
	}
	if s.port, err = freePort(); err != nil {
		return nil, err
	}
	s.base = &url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), Path: "/postgres", RawQuery: "sslmode=disable"}
	if err := s.Start(); err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, err
	}
	return s, nil
}

func findBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	if p, err := exec.LookPath("pg_config"); err == nil {
		if out, err := exec.Command(p, "--bindir").Output(); err == nil {
			dirs = append(dirs, string(bytes.TrimSpace(out)))
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found; " + installHint)
}

func versionOf(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&0o111 != 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

func (s *Server) chown(path string) error {
	if s.cred == nil {
		return nil
	}
	return os.Chown(path, int(s.cred.Uid), int(s.cred.Gid))
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	// Pdeathsig stops the server if the test binary dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Start starts the private cluster (again, after Stop) and waits until it accepts queries.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bin == "" {
		return fmt.Errorf("pgtest: the server at %s is external; only the private cluster can be started", EnvURL)
	}
	if s.proc != nil {
		return nil
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := s.command("postgres", "-D", s.dataDir(), "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+s.dir,
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=300",
		"-c", "shared_buffers=64MB")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting postgres: %w", err)
	}
	s.proc, s.exitc = cmd, make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); logf.Close(); close(done) }(cmd, s.exitc)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s.running.Store(true)
		err := s.exec(ctx, "SELECT 1")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exitc:
			s.running.Store(false)
			s.proc = nil
			log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
			return fmt.Errorf("postgres exited at start: %s", tail(log, 2000))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within 60s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the private cluster down ("fast" mode: open sessions are cut, committed
// data is kept), as an outage would look to clients.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bin == "" {
		return fmt.Errorf("pgtest: the server at %s is external; only the private cluster can be stopped", EnvURL)
	}
	if s.proc == nil {
		return nil
	}
	s.running.Store(false)
	_ = s.proc.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exitc:
	case <-time.After(30 * time.Second):
		_ = s.proc.Process.Kill()
		<-s.exitc
	}
	s.proc = nil
	return nil
}

// Restart stops and starts the private cluster.
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.Start()
}

func (s *Server) destroy() {
	if s.bin == "" {
		return
	}
	_ = s.Stop()
	_ = os.RemoveAll(s.dir)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
