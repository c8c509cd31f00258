package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edge-server/edge/internal/wait"
)

// edgeProc is a real `edge run` process (the test binary as edge, see TestMain), started
// the way systemd starts it: optional listening sockets as fds 3, 4, … with LISTEN_PID /
// LISTEN_FDS / LISTEN_FDNAMES, and NOTIFY_SOCKET pointing at a socket of the test.
type edgeProc struct {
	cmd    *exec.Cmd
	logs   *lockedBuffer
	notify *notifySocket
	done   chan struct{}
	err    error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startEdge runs `edge run --config cfgPath` with files passed as activated sockets
// named by fdNames ("http:https"; "" = no names). It returns once the process started;
// call waitReady before sending traffic.
func startEdge(t *testing.T, cfgPath string, files []*os.File, fdNames string) *edgeProc {
	t.Helper()
	p := &edgeProc{logs: &lockedBuffer{}, notify: newNotifySocket(t, true), done: make(chan struct{})}
	args := []string{"-c", `export LISTEN_PID=$$; exec "$0" "$@"`, edgeBinary(t),
		"run", "--config", cfgPath, "--shutdown-timeout", "20s", "--log-level", "info"}
	if len(files) == 0 {
		args[1] = `unset LISTEN_PID; exec "$0" "$@"`
	}
	p.cmd = exec.Command("/bin/sh", args...)
	p.cmd.Env = append(os.Environ(), testChildEnv+"=edge", "NOTIFY_SOCKET="+p.notify.addr)
	if len(files) > 0 {
		p.cmd.Env = append(p.cmd.Env, fmt.Sprintf("LISTEN_FDS=%d", len(files)))
		if fdNames != "" {
			p.cmd.Env = append(p.cmd.Env, "LISTEN_FDNAMES="+fdNames)
		}
	}
	p.cmd.ExtraFiles = files
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting edge: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("edge (pid %d) output:\n%s", p.cmd.Process.Pid, lastLines(p.logs.String(), 40))
		}
	})
	return p
}

// waitReady waits for READY=1 on the notify socket, failing early if edge exits.
func (p *edgeProc) waitReady(t *testing.T) {
	t.Helper()
	p.waitNotify(t, "READY=1", 90*time.Second)
}

// waitNotify waits for a notification containing want.
func (p *edgeProc) waitNotify(t *testing.T, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("edge exited (%v) before sending %s:\n%s", p.err, want, lastLines(p.logs.String(), 30))
		default:
		}
		_ = p.notify.conn.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
		n, err := p.notify.conn.Read(buf)
		if err == nil && strings.Contains(string(buf[:n]), want) {
			return string(buf[:n])
		}
	}
	t.Fatalf("edge never sent %s within %s:\n%s", want, timeout, lastLines(p.logs.String(), 30))
	return ""
}

// sent reports whether a notification containing want is queued (read without waiting;
// usable after the process exited).
func (p *edgeProc) sent(want string) bool {
	buf := make([]byte, 4096)
	for {
		_ = p.notify.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := p.notify.conn.Read(buf)
		if err != nil {
			return false
		}
		if strings.Contains(string(buf[:n]), want) {
			return true
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *edgeProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("edge did not exit within 60s of SIGTERM:\n%s", lastLines(p.logs.String(), 30))
	}
	if p.err != nil {
		t.Errorf("edge exited with %v after SIGTERM:\n%s", p.err, lastLines(p.logs.String(), 30))
	}
}

// upstream is a real HTTP app on loopback: /health answers 200, /slow takes a while,
// every other path answers its name after a short pause.
type upstream struct {
	name      string
	addr      string
	slowStart chan struct{}
}

func startUpstream(t *testing.T, name string, slow time.Duration) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{name: name, addr: ln.Addr().String(), slowStart: make(chan struct{}, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		u.slowStart <- struct{}{}
		time.Sleep(slow)
		fmt.Fprint(w, name+"-slow")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(2 * time.Millisecond)
		fmt.Fprint(w, name)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return u
}

// get sends GET path with Host host through edge at addr and returns status and body.
func get(c *http.Client, addr, host, path string) (int, string, error) {
	code, body, _, err := getTraced(c, addr, host, path)
	return code, body, err
}

// getTraced is get that also says whether the request went over a reused keep-alive
// connection.
func getTraced(c *http.Client, addr, host, path string) (code int, body string, reused bool, err error) {
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+addr+path, nil)
	if err != nil {
		return 0, "", false, err
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", reused, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), reused, err
}

// waitFor polls get until it answers 200 with body want.
func waitForBody(t *testing.T, addr, host, want string, timeout time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	wait.NoError(t, timeout, fmt.Sprintf("GET http://%s/ (Host %s) to answer %q", addr, host, want), func() error {
		code, body, err := get(c, addr, host, "/")
		if err == nil && code == 200 && body == want {
			return nil
		}
		return fmt.Errorf("%d %q %v", code, body, err)
	})
}

// writeEdgeConfig writes an edge.yaml for a plain-HTTP edge in dir.
func writeEdgeConfig(t *testing.T, dir, httpAddr, body string) string {
	t.Helper()
	path := filepath.Join(dir, "edge.yaml")
	head := fmt.Sprintf("state_dir: %s\nadmin_socket: %s\nlisten: { http: %q, https: \"\" }\nmetrics: \"\"\n",
		filepath.Join(dir, "state"), filepath.Join(dir, "admin.sock"), httpAddr)
	if err := os.WriteFile(path, []byte(head+body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// load keeps GET requests flowing through edge and counts outcomes, behaving like a
// browser: a request that fails on a reused keep-alive connection before any response
// arrived (the server closed the idle connection as the request was sent, an unavoidable
// HTTP/1.1 race) is retried once on a new connection, as RFC 9112 section 9.3.1 allows
// for idempotent requests. Those retries are counted apart; a request on a new
// connection is never retried, so the kernel-queue property is tested strictly.
type load struct {
	mu                sync.Mutex
	ok, fail, retried int
	errs              []string
	stop              chan struct{}
	wg                sync.WaitGroup
}

// startLoad runs workers with keep-alive connections and workers that open a new
// connection per request (those are the ones that wait in the kernel's queue while no
// edge process accepts).
func startLoad(addr, host, want string, workers int) *load {
	l := &load{stop: make(chan struct{})}
	for i := 0; i < workers; i++ {
		tr := &http.Transport{DisableKeepAlives: i%2 == 1, MaxIdleConnsPerHost: 1}
		c := &http.Client{Transport: tr, Timeout: 60 * time.Second}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer tr.CloseIdleConnections()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				code, body, reused, err := getTraced(c, addr, host, "/")
				retried := false
				if err != nil && reused && code == 0 {
					retried = true
					code, body, _, err = getTraced(c, addr, host, "/")
				}
				l.mu.Lock()
				if retried {
					l.retried++
				}
				if err == nil && code == 200 && body == want {
					l.ok++
				} else {
					l.fail++
					if len(l.errs) < 10 {
						l.errs = append(l.errs, fmt.Sprintf("%s: %d %q %v (retried %v)", time.Now().Format("15:04:05.000"), code, body, err, retried))
					}
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) counts() (ok, fail int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, l.fail
}

// waitOK waits until n more requests succeeded.
func (l *load) waitOK(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	start, _ := l.counts()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ok, _ := l.counts(); ok >= start+n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ok, fail := l.counts()
	t.Fatalf("load made no progress: %d ok, %d failed (%v)", ok, fail, l.errs)
}

func (l *load) finish() (ok, fail, retried int, errs []string) {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, l.fail, l.retried, l.errs
}

// heldListener listens on a loopback port the way systemd's edge.socket would and
// returns its address and a descriptor to pass to successive edge processes; both are
// closed when the test ends.
func heldListener(t *testing.T) (addr string, f *os.File) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f, err = ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return ln.Addr().String(), f
}
