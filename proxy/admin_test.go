package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// adminClient talks HTTP over the admin unix socket, as the CLI does.
func adminClient(sock string) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}
}

func adminDo(t *testing.T, c *http.Client, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://edge"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s %s: not JSON: %q", method, path, data)
	}
	return resp.StatusCode, v
}

func TestAdminStatusShape(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	fi, err := os.Stat(s.AdminSocket())
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket %v mode %v", err, fi.Mode())
	}
	c := adminClient(s.AdminSocket())
	code, v := adminDo(t, c, "GET", "/status", "")
	if code != 200 {
		t.Fatalf("status %d %v", code, v)
	}
	app := v["apps"].([]any)[0].(map[string]any)
	slots := app["slots"].(map[string]any)
	bs := slots["blue"].(map[string]any)
	if app["name"] != "web" || app["active"] != "blue" || app["previous"] != "" || bs["addr"] != blue.addr ||
		bs["healthy"] != true || bs["in_flight"] != float64(0) || slots["green"] == nil {
		t.Fatalf("status %v", v)
	}
}

func TestAdminSwitchAndRollback(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	c := adminClient(s.AdminSocket())
	code, v := adminDo(t, c, "POST", "/switch", `{"color":"green","timeout":"3s"}`)
	if code != 200 || v["changed"] != true || v["to"] != "green" || v["drain"] == nil {
		t.Fatalf("switch %d %v", code, v)
	}
	code, v = adminDo(t, c, "POST", "/rollback", ``)
	if code != 200 || v["to"] != "blue" {
		t.Fatalf("rollback %d %v", code, v)
	}
	code, v = adminDo(t, c, "POST", "/switch", `{"app":"web","color":"blue"}`)
	if code != 200 || v["changed"] != false {
		t.Fatalf("no-op switch %d %v", code, v)
	}
}

func TestAdminBadInput(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Apps[0].Green = []string{deadAddr(t)}
	s := startProxy(t, cfg)
	c := adminClient(s.AdminSocket())
	tests := []struct {
		method, path, body string
		status             int
		code, says         string
	}{
		{"POST", "/switch", `not json`, 400, CodeBadRequest, "not the expected JSON"},
		{"POST", "/switch", ``, 400, CodeBadRequest, "empty"},
		{"POST", "/switch", `{"color":"green","extra":1}`, 400, CodeBadRequest, "unknown field"},
		{"POST", "/switch", `{"color":"green"}{"color":"blue"}`, 400, CodeBadRequest, "after the JSON object"},
		{"POST", "/switch", `{"color":"purple"}`, 400, CodeBadRequest, "not blue or green"},
		{"POST", "/switch", `{"color":"GREEN"}`, 400, CodeBadRequest, "not blue or green"},
		{"POST", "/switch", `{}`, 400, CodeBadRequest, "color is missing"},
		{"POST", "/switch", `{"color":"green","app":"nope"}`, 400, CodeUnknownApp, `no app named "nope"`},
		{"POST", "/switch", `{"color":"green","timeout":"soon"}`, 400, CodeBadRequest, "not a duration"},
		{"POST", "/switch", `{"color":"green","timeout":"-1s"}`, 400, CodeBadRequest, "more than 0"},
		{"POST", "/switch", `{"color":"green","timeout":"1h"}`, 400, CodeBadRequest, "at most"},
		{"POST", "/switch", `{"color":"green","timeout":true}`, 400, CodeBadRequest, "timeout must be"},
		{"POST", "/switch", `{"color":["green"]}`, 400, CodeBadRequest, "not the expected JSON"},
		{"POST", "/switch", `{"color":"green","pad":"` + strings.Repeat("x", MaxAdminBody) + `"}`, 400, CodeBadRequest, "larger than"},
		{"POST", "/switch", `{"color":"green","timeout":0.3}`, 409, CodeUnhealthy, "is not healthy: connection refused; traffic stays on blue"},
		{"POST", "/rollback", `{"app":"web"}`, 409, CodeNoPrevious, "never been switched"},
		{"POST", "/rollback", `[]`, 400, CodeBadRequest, "not the expected JSON"},
		{"POST", "/reload", ``, 501, CodeReloadUnavailable, "not available"},
		{"POST", "/reload", `{"x":1}`, 400, CodeBadRequest, "unknown field"},
		{"GET", "/switch", ``, 405, CodeMethodNotAllowed, "takes POST"},
		{"POST", "/status", ``, 405, CodeMethodNotAllowed, "takes GET"},
		{"GET", "/nope", ``, 404, CodeNotFound, "no admin endpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.method+tc.path+" "+tc.says, func(t *testing.T) {
			code, v := adminDo(t, c, tc.method, tc.path, tc.body)
			msg, _ := v["error"].(string)
			if code != tc.status || v["code"] != tc.code || !strings.Contains(msg, tc.says) {
				t.Fatalf("got %d %v, want %d %s %q", code, v, tc.status, tc.code, tc.says)
			}
		})
	}
	if s.Status().Apps[0].Active != "blue" {
		t.Fatal("bad input moved traffic")
	}
}

func TestAdminReloadCallback(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	calls := 0
	cfg.Reload = func(ctx context.Context) error {
		calls++
		if calls == 2 {
			return errors.New("line 3: unknown key")
		}
		return nil
	}
	s := startProxy(t, cfg)
	c := adminClient(s.AdminSocket())
	if code, v := adminDo(t, c, "POST", "/reload", ""); code != 200 {
		t.Fatalf("reload %d %v", code, v)
	}
	code, v := adminDo(t, c, "POST", "/reload", "{}")
	if code != 500 || v["code"] != CodeReloadFailed || !strings.Contains(v["error"].(string), "line 3: unknown key") {
		t.Fatalf("failed reload %d %v", code, v)
	}
}

func TestAdminSocketTakeover(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "run", "admin.sock") // parent dir is created

	// A live socket belongs to another edge: refuse to start.
	cfg := oneApp(blue, green, dir)
	cfg.AdminSocket = sock
	first := startProxy(t, cfg)
	second, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second edge started on a live socket: %v", err)
	}
	// A stale socket (edge crashed) is replaced.
	_ = first.Shutdown(context.Background())
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	startProxy(t, cfg)

	// A regular file is never deleted.
	cfg.AdminSocket = filepath.Join(dir, "precious")
	if err := os.WriteFile(cfg.AdminSocket, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.HTTPAddr = "127.0.0.1:0"
	third, _ := New(cfg, testLogger(t))
	if err := third.Start(); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("start over a regular file: %v", err)
	}
	if data, _ := os.ReadFile(cfg.AdminSocket); string(data) != "data" {
		t.Fatal("the regular file was touched")
	}
}

// FuzzDecodeSwitch feeds arbitrary bodies to the admin decoders: they never panic,
// and whatever they accept is valid.
func FuzzDecodeSwitch(f *testing.F) {
	for _, s := range []string{`{"color":"green"}`, `{"app":"web","color":"blue","timeout":"5s"}`,
		`{"color":"green","timeout":2.5}`, `{}`, ``, `[`, `{"color":"green"} x`, `{"timeout":1e309}`,
		`{"color":"green","weight":10}`, `{"color":"green","weight":100}`, `{"color":"blue","min_healthy":2}`,
		`{"color":"green","auto":{"steps":[10,50],"hold":"1s","max_error_rise":2.5}}`, `{"color":"green","auto":{"steps":[50,10]}}`,
		`{"max_wait":"30s"}`, `{"on":true,"message":"back soon"}`, `{"on":false}`, `{"max_wait":-1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if cmd, err := decodeSwitch(body); err == nil {
			if cmd.color != Blue && cmd.color != Green || cmd.timeout < 0 || cmd.timeout > MaxSwitchTimeout || len(cmd.app) > 256 {
				t.Fatalf("accepted %q as %+v", body, cmd)
			}
		} else if err.Status != 400 || err.Code != CodeBadRequest {
			t.Fatalf("error %+v", err)
		}
		if cmd, err := decodeRollback(body); err == nil && (cmd.timeout < 0 || cmd.timeout > MaxSwitchTimeout) {
			t.Fatalf("accepted %q as %+v", body, cmd)
		}
		if cmd, err := decodeSwitch(body); err == nil {
			if o := cmd.opts; o.Weight < 0 || o.Weight > MaxWeight || o.MinHealthy < 0 || o.MinHealthy > MaxReplicas {
				t.Fatalf("accepted %q as %+v", body, cmd)
			}
			if a := cmd.auto; a != nil {
				for i, w := range a.Steps {
					if w < 1 || w > MaxWeight || i > 0 && w <= a.Steps[i-1] {
						t.Fatalf("accepted steps %v from %q", a.Steps, body)
					}
				}
				if a.Hold < 0 || a.Hold > MaxSwitchTimeout || a.MaxErrorRise < 0 || a.MaxErrorRise > 100 || cmd.opts.Weight != 0 {
					t.Fatalf("accepted auto %+v from %q", a, body)
				}
			}
		}
		if cmd, err := decodePause(body); err == nil && (cmd.maxWait < 0 || cmd.maxWait > MaxPauseWait) {
			t.Fatalf("pause accepted %q as %+v", body, cmd)
		} else if err != nil && err.Status != 400 {
			t.Fatalf("pause error %+v", err)
		}
		if cmd, err := decodeMaintenance(body); err == nil && len(cmd.message) > MaxMaintenanceMessage {
			t.Fatalf("maintenance accepted %q", body)
		}
	})
}

// TestAdminClientThatStopsReading: a client of the admin socket that pipelines
// requests and never reads their answers is disconnected after the write timeout;
// the admin API keeps answering others.
func TestAdminClientThatStopsReading(t *testing.T) {
	old := adminWriteTimeout
	adminWriteTimeout = 300 * time.Millisecond
	t.Cleanup(func() { adminWriteTimeout = old })
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	c, err := net.Dial("unix", s.AdminSocket())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := []byte("GET /status HTTP/1.1\r\nHost: edge\r\n\r\n")
	start := time.Now()
	var werr error
	for time.Since(start) < 10*time.Second { // until edge stops taking requests
		_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, werr = c.Write(req); werr != nil {
			break
		}
	}
	if werr == nil || isTimeout(werr) { // a timeout: edge is stuck writing, not reading
		t.Fatalf("edge did not close the connection of a client that never reads: %v", werr)
	}
	t.Logf("admin connection of a client that never reads ended after %s: %v", time.Since(start).Round(time.Millisecond), werr)
	if code, _ := adminDo(t, adminClient(s.AdminSocket()), "GET", "/status", ""); code != 200 {
		t.Fatalf("status after the stuck client: %d", code)
	}
}
