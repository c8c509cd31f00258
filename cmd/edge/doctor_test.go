package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"

	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/edge-server/edge/internal/config"
	"github.com/edge-server/edge/internal/pgtest"
)

// fakeResolver answers from a table; a missing name is NXDOMAIN. Tests never leave
// loopback, so real DNS is not an option.
type fakeResolver map[string][]string

func (f fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

var doctorNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// writeCert stores a self-signed certificate for host where certmagic would.
func writeCert(t *testing.T, stateDir, issuerDir, host string, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "edge-test-ca"},
		DNSNames:     []string{host},
		NotBefore:    notAfter.Add(-90 * 24 * time.Hour),
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Replace(host, "*", "wildcard_", 1)
	dir := filepath.Join(stateDir, "certs", "certificates", issuerDir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// holdPort keeps a loopback port bound for the test (standing in for edge or for
// another program).
func holdPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// statusStandIn answers GET /status like the running daemon.
func statusStandIn(active string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"apps": []map[string]any{{"name": "web", "active": active, "previous": ""}}})
	})
}

func chatDatabase(t *testing.T, migrated bool) string {
	t.Helper()
	db := pgtest.New(t)
	if migrated {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, db.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `CREATE TABLE messages (id BIGSERIAL PRIMARY KEY, room_id VARCHAR NOT NULL, content TEXT)`); err != nil {
			t.Fatal(err)
		}
	}
	return db.URL
}

type doctorSetup struct {
	dir, cfgPath, envPath, socket string
	httpAddr, httpsAddr, metrics  string
	blue, green                   string
	hosts                         string // YAML list items; default a.test, b.test
}

// writeDoctorConfig writes edge.yaml (database_url from ${DATABASE_URL}, which the
// environment file in the same directory sets) and returns its path.
func (s *doctorSetup) write(t *testing.T, dbURL string) {
	t.Helper()
	s.cfgPath = filepath.Join(s.dir, "edge.yaml")
	s.envPath = filepath.Join(s.dir, "edge.env")
	cfg := fmt.Sprintf(`state_dir: %s/state
admin_socket: %s
listen: { http: %q, https: %q }
metrics: %q
apps:
  web:
    blue: %s
    green: %s
    health: { path: /health, interval: 2s, timeout: 1s }
sites:
  - hosts: [%s]
    routes:
      - { path: /, app: web }
      - { path: /chat/, chat: true }
chat:
  database_url: ${DATABASE_URL}
`, s.dir, s.socket, s.httpAddr, s.httpsAddr, s.metrics, s.blue, s.green, s.hostList())
	if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o640); err != nil {
		t.Fatal(err)
	}
	env := "# secrets for edge.service\nDATABASE_URL=\"" + dbURL + "\"\n"
	if err := os.WriteFile(s.envPath, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (s *doctorSetup) hostList() string {
	if s.hosts == "" {
		return "a.test, b.test"
	}
	return s.hosts
}

func runDoctor(t *testing.T, resolver doctorResolver, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := doctorMain(args, &out, &errb, resolver, func() time.Time { return doctorNow })
	return code, out.String(), errb.String()
}

// matchLines checks output line by line against regular expressions.
func matchLines(t *testing.T, out string, want []string) {
	t.Helper()
	got := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i := 0; i < max(len(got), len(want)); i++ {
		g, w := "", "(no more lines)"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if i >= len(want) || !regexp.MustCompile("^"+w+"$").MatchString(g) {
			t.Errorf("line %d:\n got  %q\n want %s\nwhole output:\n%s", i+1, g, w, out)
			return
		}
	}
}

func TestDoctorHealthySetup(t *testing.T) {
	s := &doctorSetup{dir: shortSocketDir(t)}
	s.socket = filepath.Join(s.dir, "admin.sock")
	s.httpAddr, s.httpsAddr, s.metrics = holdPort(t), holdPort(t), holdPort(t) // held by "edge"
	s.blue, s.green = startUpstream(t, "blue", 0).addr, startUpstream(t, "green", 0).addr
	s.write(t, chatDatabase(t, true))
	adminStandIn(t, s.socket, statusStandIn("blue"))
	writeCert(t, filepath.Join(s.dir, "state"), "acme-v02.api.letsencrypt.org-directory", "a.test", doctorNow.Add(60*24*time.Hour))
	writeCert(t, filepath.Join(s.dir, "state"), "acme-v02.api.letsencrypt.org-directory", "b.test", doctorNow.Add(80*24*time.Hour))
	dns := fakeResolver{"a.test": {"127.0.0.1"}, "b.test": {"::ffff:127.0.0.1"}}

	code, out, errOut := runDoctor(t, dns, "--config", s.cfgPath, "--env-file", s.envPath, "--expect-ip", "127.0.0.1")
	if code != 0 || errOut != "" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	matchLines(t, out, []string{
		`✔ config .*/edge.yaml is valid: serving 2 host\(s\), 1 app\(s\)`,
		`✔ edge is running \(admin socket .*/admin.sock, mode 0660\): web on blue`,
		`✔ listen.http 127.0.0.1:\d+ is held by the running edge`,
		`✔ listen.https 127.0.0.1:\d+ is held by the running edge`,
		`✔ metrics 127.0.0.1:\d+ is held by the running edge`,
		`✔ DNS a.test resolves to 127.0.0.1`,
		`✔ DNS b.test resolves to ::ffff:127.0.0.1`,
		`✔ app web blue \(127.0.0.1:\d+\) \[active\] answers GET /health`,
		`✔ app web green \(127.0.0.1:\d+\) \[idle\] answers GET /health`,
		`✔ Postgres postgres://\S+ \(version 1\d\.\S*\) is reachable and has the chat schema`,
		`✔ certificate a.test valid until 2026-07-31 \(60 days left\), issued by edge-test-ca`,
		`✔ certificate b.test valid until 2026-08-20 \(80 days left\), issued by edge-test-ca`,
		``,
		`All checks passed.`,
	})
}

func TestDoctorBrokenSetup(t *testing.T) {
	s := &doctorSetup{dir: shortSocketDir(t)}
	s.socket = filepath.Join(s.dir, "admin.sock")
	s.httpAddr = holdPort(t)            // taken by "another program" (this test)
	s.httpsAddr = freeAddr(t)           // free
	sick := startUpstreamStatus(t, 500) // answers /health with 500
	s.blue, s.green = sick, freeAddr(t) // green: nothing listens
	s.write(t, chatDatabase(t, false))  // reachable, not migrated
	// A socket left behind by a crashed edge, with a loosened mode.
	ln, err := net.Listen("unix", s.socket)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if err := os.Chmod(s.socket, 0o666); err != nil {
		t.Fatal(err)
	}
	writeCert(t, filepath.Join(s.dir, "state"), "acme-v02.api.letsencrypt.org-directory", "a.test", doctorNow.Add(-24*time.Hour))
	dns := fakeResolver{"b.test": {"10.0.0.9"}}

	code, out, _ := runDoctor(t, dns, "--config", s.cfgPath, "--env-file", s.envPath, "--expect-ip", "127.0.0.1")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	fix := `  fix: .+`
	matchLines(t, out, []string{
		`✔ config .*/edge.yaml is valid: serving 2 host\(s\), 1 app\(s\)`,
		`✘ admin socket .*/admin.sock has mode 0666; want 0660 so only root and group edge can switch traffic`, fix,
		`✘ edge is not running: nothing answers on .*/admin.sock \(a stale socket from a stopped edge\?\)`, fix,
		`✘ listen.http 127.0.0.1:\d+ is in use by \S+ \(pid ` + fmt.Sprint(os.Getpid()) + `\)`, fix,
		`✔ listen.https 127.0.0.1:\d+ is free`,
		`✘ DNS a.test does not resolve: lookup a.test: no such host`,
		`  fix: create an A record a.test → 127.0.0.1 \(Route53: .*`,
		`✘ DNS b.test resolves to 10.0.0.9, not 127.0.0.1`, fix,
		`✘ app web blue \(127.0.0.1:\d+\) is not healthy: GET /health answered 500`, fix,
		`✘ app web green \(127.0.0.1:\d+\) is not healthy: connection refused`, fix,
		`✘ Postgres \S+ \(version 1\d\.\S*\) is reachable but has no table messages: the chat schema is not installed`, fix,
		`✘ certificate a.test expired on 2026-05-31`, fix,
		`! certificate b.test: none yet; edge obtains it on start \(needs DNS pointing here and port 80 open\)`,
		``,
		`9 problem\(s\) found.`,
	})
}

func startUpstreamStatus(t *testing.T, code int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestDoctorIdleColorDownIsANote(t *testing.T) {
	s := &doctorSetup{dir: shortSocketDir(t)}
	s.socket = filepath.Join(s.dir, "admin.sock")
	s.httpAddr, s.httpsAddr = holdPort(t), ""
	s.hosts = `a.test, "*.b.test"` // wildcards only without HTTPS
	s.blue, s.green = startUpstream(t, "blue", 0).addr, freeAddr(t)
	s.write(t, chatDatabase(t, true))
	adminStandIn(t, s.socket, statusStandIn("blue"))
	dns := fakeResolver{"a.test": {"127.0.0.1"}, "edge-doctor-probe.b.test": {"127.0.0.1"}}
	code, out, _ := runDoctor(t, dns, "--config", s.cfgPath, "--env-file", s.envPath)
	if code != 0 {
		t.Errorf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"! app web green (" + s.green + ") [idle] is not healthy (connection refused); fine while idle, start it before `edge switch green`",
		"✔ certificates: listen.https is empty (plain HTTP), none needed",
		"✔ DNS *.b.test (probed as edge-doctor-probe.b.test) resolves to 127.0.0.1",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDoctorBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("listen: { http: \"nope\" }\ncolour: blue\n"), 0o644)
	huge := filepath.Join(dir, "huge.yaml")
	_ = os.WriteFile(huge, bytes.Repeat([]byte("# x\n"), config.MaxBytes/4+1), 0o644)
	tests := []struct {
		args       []string
		code       int
		out, errIn string
	}{
		{[]string{"--config", bad}, 1, "✘ config has 2 problem(s):\n    " + bad + ":1:", ""},
		{[]string{"--config", huge}, 1, "larger than", ""},
		{[]string{"--config", filepath.Join(dir, "none.yaml")}, 1, "no such file", ""},
		{[]string{"--config", bad, "--expect-ip", "1.2.3"}, 2, "", `--expect-ip "1.2.3" is not an IP address`},
		{[]string{"--config", bad, "--timeout", "0s"}, 2, "", "--timeout must be positive"},
		{[]string{"--config", bad, "--env-file", filepath.Join(dir, "none.env")}, 1, "! environment file: no such file or directory", ""},
		{[]string{"extra"}, 2, "", "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := runDoctor(t, fakeResolver{}, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.errIn) {
				t.Errorf("exit %d\nstdout %q\nstderr %q", code, out, errOut)
			}
		})
	}
}
