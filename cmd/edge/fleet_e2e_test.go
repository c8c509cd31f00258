package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edge-server/edge/internal/pgtest"
	"github.com/edge-server/edge/internal/tcpfault"
	"github.com/edge-server/edge/tls/pebbletest"
)

// fleetMember is one real `edge run` process of the fleet test.
type fleetMember struct {
	name, dir, conf, sock string
	http, https           string
	proc                  *edgeProc
}

// switchableUpstream answers every path with its color and /health with health.
func switchableUpstream(t *testing.T, color string, health *atomic.Int32) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/health" {
			ctx.SetStatusCode(int(health.Load()))
			return
		}
		ctx.SetBodyString(color)
	}}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

func writeFleetConfig(t *testing.T, m *fleetMember, dbURL, blue, green string, p *pebbletest.Pebble, root string) {
	t.Helper()
	yaml := fmt.Sprintf(`state_dir: %s/state
admin_socket: %s
metrics: ""
access_log: false
listen: { http: "%s", https: "%s" }
tls: { email: ops@edge.test, ca: "%s", ca_root: %s }
cluster: { database_url: "%s", name: %s, heartbeat: 200ms }
apps:
  web: { blue: "%s", green: "%s", health: { interval: 200ms, timeout: 200ms, rise: 1, fall: 1 }, drain: 2s }
sites:
  - hosts: [fleet.edge.test]
    routes:
      - { path: /, app: web }
`, m.dir, m.sock, m.http, m.https, p.DirectoryURL, root, dbURL, m.name, blue, green)
	if err := os.WriteFile(m.conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestFleetEndToEnd runs three edge processes on one Postgres with pebble: one order
// for the fleet and one certificate everywhere (also after an instance is rebuilt),
// a fleet switch under keep-alive load with no failed request, a switch refused
// everywhere when one instance sees green unhealthy, and a database outage during
// which all keep serving and switches are refused until it is back.
func TestFleetEndToEnd(t *testing.T) {
	db := pgtest.New(t)
	pgProxy := tcpfault.Start(t, db.Addr()) // the "network" between the VMs and Postgres
	p := pebbletest.Start(t, pebbletest.Options{Quiet: true})
	// Unix socket paths must stay short (t.TempDir's can exceed 108 bytes).
	base, err := os.MkdirTemp("", "edgefleet")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	root := filepath.Join(base, "pebble-root.pem")
	if err := os.WriteFile(root, p.ServerRootPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	var blueHealth, greenHealth, greenFrom3 atomic.Int32
	blueHealth.Store(200)
	greenHealth.Store(200)
	greenFrom3.Store(500) // edge-3's path to green is broken
	blue := switchableUpstream(t, "blue", &blueHealth)
	green := switchableUpstream(t, "green", &greenHealth)
	greenVia3 := switchableUpstream(t, "green", &greenFrom3)

	const name = "fleet.edge.test"
	ms := make([]*fleetMember, 3)
	for i := range ms {
		m := &fleetMember{name: fmt.Sprintf("edge-%d", i+1), dir: filepath.Join(base, fmt.Sprint(i+1)), http: freeAddr(t), https: freeAddr(t)}
		m.conf, m.sock = filepath.Join(m.dir, "edge.yaml"), filepath.Join(m.dir, "admin.sock")
		if err := os.MkdirAll(m.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		g := green
		if i == 2 {
			g = greenVia3
		}
		writeFleetConfig(t, m, db.URLVia(pgProxy.Addr), blue, g, p, root)
		ms[i] = m
	}
	// The CA reaches edge-2 only, so edge-2 must be up before anyone orders (an order
	// validated against a VM that is not listening yet fails and is retried as a new
	// order). Answering a challenge another instance started is covered by
	// tls.TestFleetAnswersAnotherInstancesChallenge.
	p.Forward(ms[1].http, ms[1].https)
	for _, i := range []int{1, 0, 2} {
		ms[i].proc = startEdge(t, ms[i].conf, nil, "")
		if i == 1 {
			ms[i].proc.waitReady(t)
		}
	}
	ms[0].proc.waitReady(t)
	ms[2].proc.waitReady(t)

	// Certificates: one order, one certificate everywhere.
	serial := ""
	for _, m := range ms {
		s := waitForCertificate(t, m.https, name, p)
		if serial == "" {
			serial = s
		} else if s != serial {
			t.Errorf("%s serves serial %s, edge-1 %s", m.name, s, serial)
		}
	}
	if p.Orders() != 1 {
		t.Errorf("pebble saw %d orders (%v), want 1 for the fleet", p.Orders(), p.OrderedNames())
	}
	if r := p.RefusedOrders(); len(r) > 0 {
		t.Logf("pebble refused %d newOrder requests (statuses %v); clients retried them", len(r), r)
	}

	// Keep-alive load through all three instances for the rest of the test.
	load := startFleetLoad(t, ms, name, p)
	defer load.stop(t)

	// edge-3 sees green unhealthy: refused everywhere, naming edge-3.
	code, out, errOut := runCmd("switch", "green", "--socket", ms[0].sock, "--timeout", "2s")
	if code == 0 || !strings.Contains(errOut, "edge-3 sees green unhealthy") || !strings.Contains(errOut, "traffic stays on blue") {
		t.Fatalf("switch with edge-3 seeing green down: %d %q %q", code, out, errOut)
	}
	time.Sleep(500 * time.Millisecond)
	for _, m := range ms {
		if got := load.last(m.name); got != "blue" {
			t.Errorf("%s serves %q after a refused switch", m.name, got)
		}
	}

	greenFrom3.Store(200)
	start := time.Now()
	code, out, errOut = runCmd("switch", "green", "--socket", ms[1].sock, "--timeout", "5s")
	took := time.Since(start)
	if code != 0 || !strings.Contains(out, "on 3 of 3 instances") {
		t.Fatalf("fleet switch: %d %q %q", code, out, errOut)
	}
	t.Logf("fleet switch took %v:\n%s", took.Round(time.Millisecond), out)
	for _, m := range ms {
		if body := fleetGet(t, m, name, p); body != "green" {
			t.Errorf("%s serves %q right after the switch returned", m.name, body)
		}
	}

	// edge status --json lists every instance with the color it serves (from its
	// heartbeat report, so within a heartbeat or two).
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, out, _ = runCmd("status", "--json", "--socket", ms[2].sock)
		var st struct {
			Instances []struct {
				Name     string    `json:"name"`
				LastSeen time.Time `json:"last_seen"`
				Apps     []struct{ Name, Active string }
			} `json:"instances"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			t.Fatalf("status --json: %d %s", code, out)
		}
		green := 0
		for _, in := range st.Instances {
			if len(in.Apps) == 1 && in.Apps[0].Name == "web" && in.Apps[0].Active == "green" && time.Since(in.LastSeen) < 5*time.Second {
				green++
			}
		}
		if len(st.Instances) == 3 && green == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status --json does not show 3 instances on green: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}

	code, out, _ = runCmd("status", "--socket", ms[0].sock)
	if code != 0 || !strings.Contains(out, "fleet (this is edge-1; database up):") || strings.Count(out, "web=green (blue ok, green ok)") != 3 {
		t.Errorf("edge status:\n%s", out)
	}

	// The database goes away (frozen, connections cut): serving goes on, switches are
	// refused with a sentence, and work again once it is back.
	pgProxy.Freeze()
	pgProxy.Cut()
	code, _, errOut = runCmd("rollback", "--socket", ms[0].sock, "--timeout", "2s")
	if code == 0 || !strings.Contains(errOut, "the fleet database cannot be reached") || !strings.Contains(errOut, "switches are refused until it is back") {
		t.Fatalf("rollback during the outage: %d %q", code, errOut)
	}
	time.Sleep(time.Second)
	for _, m := range ms {
		if got := load.last(m.name); got != "green" {
			t.Errorf("%s serves %q during the outage", m.name, got)
		}
	}
	pgProxy.Thaw()
	deadline = time.Now().Add(30 * time.Second)
	for {
		code, out, errOut = runCmd("rollback", "--socket", ms[2].sock, "--timeout", "2s")
		if code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code != 0 || !strings.Contains(out, "web now serves from blue on 3 of 3 instances") {
		t.Fatalf("rollback after the outage: %d %q %q", code, out, errOut)
	}
	for _, m := range ms {
		if body := fleetGet(t, m, name, p); body != "blue" {
			t.Errorf("%s serves %q after the rollback", m.name, body)
		}
	}
	load.stop(t)

	// edge-3 is rebuilt: empty state_dir, so nothing in memory or on disk, and its
	// local default is blue. While it is away the fleet switches to green. Back, it
	// loads the certificate from Postgres (no order) and serves green from its first
	// request.
	ms[2].proc.stop(t)
	if err := os.RemoveAll(filepath.Join(ms[2].dir, "state")); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		code, out, errOut = runCmd("switch", "green", "--socket", ms[0].sock, "--timeout", "2s")
		if (code == 0 && strings.Contains(out, "on 2 of 2 instances")) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code != 0 || !strings.Contains(out, "on 2 of 2 instances") {
		t.Fatalf("switch without edge-3: %d %q %q", code, out, errOut)
	}
	ms[2].proc = startEdge(t, ms[2].conf, nil, "")
	ms[2].proc.waitReady(t)
	if s := waitForCertificate(t, ms[2].https, name, p); s != serial {
		t.Errorf("the rebuilt instance serves serial %s, want %s", s, serial)
	}
	if body := fleetGet(t, ms[2], name, p); body != "green" {
		t.Errorf("the rebuilt instance serves %q at its first request, the fleet says green", body)
	}
	if p.Orders() != 1 {
		t.Errorf("pebble saw %d orders after the rebuild, want 1", p.Orders())
	}
}

func fleetClient(m *fleetMember, name string, p *pebbletest.Pebble) *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: m.https, IsTLS: true, MaxConns: 4, ReadTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{ServerName: name, RootCAs: p.IssuerRoots()}}
}

func fleetGet(t *testing.T, m *fleetMember, name string, p *pebbletest.Pebble) string {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("https://" + name + "/")
	req.SetConnectionClose()
	if err := fleetClient(m, name, p).Do(req, resp); err != nil {
		t.Fatalf("GET via %s: %v", m.name, err)
	}
	return string(resp.Body())
}

// fleetLoad keeps two keep-alive connections busy on each instance and counts
// failures (errors and non-200 answers).
type fleetLoad struct {
	stopc   chan struct{}
	wg      sync.WaitGroup
	ok, bad atomic.Int64
	mu      sync.Mutex
	lastBy  map[string]string
	errs    []string
	stopped bool
}

func startFleetLoad(t *testing.T, ms []*fleetMember, name string, p *pebbletest.Pebble) *fleetLoad {
	l := &fleetLoad{stopc: make(chan struct{}), lastBy: map[string]string{}}
	for _, m := range ms {
		c := fleetClient(m, name, p)
		for range 2 {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				req.SetRequestURI("https://" + name + "/")
				for {
					select {
					case <-l.stopc:
						return
					default:
					}
					err := c.Do(req, resp)
					l.mu.Lock()
					if err != nil || resp.StatusCode() != 200 {
						l.bad.Add(1)
						if len(l.errs) < 5 {
							l.errs = append(l.errs, fmt.Sprintf("%s: %v %d %q", m.name, err, resp.StatusCode(), resp.Body()))
						}
					} else {
						l.ok.Add(1)
						l.lastBy[m.name] = string(resp.Body())
					}
					l.mu.Unlock()
					time.Sleep(2 * time.Millisecond)
				}
			}()
		}
	}
	return l
}

func (l *fleetLoad) last(name string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastBy[name]
}

func (l *fleetLoad) stop(t *testing.T) {
	if l.stopped {
		return
	}
	l.stopped = true
	close(l.stopc)
	l.wg.Wait()
	t.Logf("load: %d requests ok, %d failed", l.ok.Load(), l.bad.Load())
	if l.bad.Load() != 0 || l.ok.Load() == 0 {
		t.Errorf("%d of %d requests failed: %v", l.bad.Load(), l.ok.Load()+l.bad.Load(), l.errs)
	}
}
