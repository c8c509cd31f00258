package proxy

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestAdminTrafficEndpoints: POST /pause, /resume, /maintenance and /switch with a
// weight over the real socket; bad bodies are 400 with one sentence and change nothing.
func TestAdminTrafficEndpoints(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	s := startProxy(t, cfg)
	c := adminClient(cfg.AdminSocket)
	for _, tt := range []struct{ path, body, want string }{
		{"/switch", `{"color":"green","weight":0}`, "weight 0 is outside 1 to 99"},
		{"/switch", `{"color":"green","weight":100}`, "weight 100 is outside 1 to 99"},
		{"/switch", `{"color":"green","weight":10,"auto":{}}`, "weight and auto do not go together"},
		{"/pause", `{"app":"nope"}`, `there is no app named "nope"`},
		{"/pause", `{"max_wait":"forever"}`, `max_wait "forever" is not a duration`},
		{"/maintenance", `{}`, "on is missing"},
		{"/maintenance", `{"on":false,"message":"x"}`, "a message goes with maintenance on, not off"},
		{"/resume", `{"app":"web","extra":1}`, "unknown field"},
	} {
		code, v := adminDo(t, c, "POST", tt.path, tt.body)
		if msg, _ := v["error"].(string); code != 400 || !strings.Contains(msg, tt.want) {
			t.Errorf("%s %s: %d %v, want 400 %q", tt.path, tt.body, code, v, tt.want)
		}
	}
	if st := s.Status().Apps[0]; st.Weight != 0 || st.Paused || st.Maintenance {
		t.Fatalf("bad input changed the state: %+v", st)
	}
	if code, v := adminDo(t, c, "POST", "/switch", `{"color":"green","weight":30}`); code != 200 || v["weight"] != 30.0 {
		t.Fatalf("canary: %d %v", code, v)
	}
	if code, v := adminDo(t, c, "POST", "/pause", `{"max_wait":"2s"}`); code != 200 || v["paused"] != true {
		t.Fatalf("pause: %d %v", code, v)
	}
	if code, v := adminDo(t, c, "POST", "/resume", ``); code != 200 || v["paused"] != false || v["changed"] != true {
		t.Fatalf("resume: %d %v", code, v)
	}
	if code, v := adminDo(t, c, "POST", "/maintenance", `{"on":true,"message":"soon"}`); code != 200 || v["maintenance"] != true {
		t.Fatalf("maintenance: %d %v", code, v)
	}
	_, v := adminDo(t, c, "GET", "/status", "")
	app := v["apps"].([]any)[0].(map[string]any)
	if app["weight"] != 30.0 || app["paused"] != false || app["maintenance"] != true || app["message"] != "soon" {
		t.Fatalf("status %v", app)
	}
	blueSlot := app["slots"].(map[string]any)["blue"].(map[string]any)
	if blueSlot["addr"] != blue.addr || len(blueSlot["replicas"].([]any)) != 1 {
		t.Fatalf("blue slot %v", blueSlot)
	}
}

// fakeFleet stands in for cluster's fleet switcher.
type fakeFleet struct{}

func (fakeFleet) Switch(ctx context.Context, app string, color Color, timeout time.Duration) (any, error) {
	return map[string]string{"message": "fleet switched"}, nil
}

func (fakeFleet) Rollback(ctx context.Context, app string, timeout time.Duration) (any, error) {
	return map[string]string{"message": "fleet rolled back"}, nil
}

// TestAdminCanaryRefusedInFleet: with a fleet, a canary (weight, auto) or
// min_healthy is refused instead of being applied to one instance only.
func TestAdminCanaryRefusedInFleet(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Fleet = fakeFleet{}
	s := startProxy(t, cfg)
	c := adminClient(cfg.AdminSocket)
	for _, body := range []string{`{"color":"green","weight":10}`, `{"color":"green","auto":{}}`, `{"color":"green","min_healthy":1}`} {
		code, v := adminDo(t, c, "POST", "/switch", body)
		if msg, _ := v["error"].(string); code != 400 || !strings.Contains(msg, "canaries (weight, auto) and min_healthy are not yet") {
			t.Errorf("%s: %d %v", body, code, v)
		}
	}
	if code, v := adminDo(t, c, "POST", "/switch", `{"color":"green"}`); code != 200 || v["message"] != "fleet switched" {
		t.Fatalf("fleet switch: %d %v", code, v)
	}
	if st := s.Status().Apps[0]; st.Weight != 0 {
		t.Fatalf("status %+v", st)
	}
}
