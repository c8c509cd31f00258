package proxy

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestFollowFlipsWithoutProbing: Follow moves traffic even while this instance's own
// checker has not yet seen the target (the fleet checked it), calls flipped after
// the flip and before the drain, and records the color in the state file.
func TestFollowFlipsWithoutProbing(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	c := client(s)
	if err := s.Probe(context.Background(), "web", Green); err != nil {
		t.Fatalf("Probe(green) = %v", err)
	}
	green.health.Store(500)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Probe(ctx, "web", Green); err == nil || !strings.Contains(err.Error(), "green ("+green.addr+") is not healthy") {
		t.Errorf("Probe of a failing green = %v", err)
	}
	green.health.Store(200)
	var flippedSaw string
	res, err := s.Follow(context.Background(), "", Green, func() {
		_, body, _ := get(t, c, "load.example", "/x")
		flippedSaw = body
	})
	if err != nil || !res.Changed {
		t.Fatalf("Follow = %+v, %v", res, err)
	}
	if !strings.HasPrefix(flippedSaw, "green") {
		t.Errorf("a request right after flipped() was served by %q", flippedSaw)
	}
	if got := s.ActiveColors(); got["web"] != "green" {
		t.Errorf("ActiveColors = %v", got)
	}
	res, err = s.Follow(context.Background(), "web", Green, nil)
	if err != nil || res.Changed {
		t.Errorf("Follow to the live color = %+v, %v; want no change", res, err)
	}
}

type recordingFleet struct{ calls []string }

func (f *recordingFleet) Switch(_ context.Context, app string, color Color, _ time.Duration) (any, error) {
	f.calls = append(f.calls, "switch "+app+" "+color.String())
	return map[string]string{"message": "fleet moved"}, nil
}

func (f *recordingFleet) Rollback(_ context.Context, app string, _ time.Duration) (any, error) {
	f.calls = append(f.calls, "rollback "+app)
	return nil, NewError("database_down", 503, "the fleet database cannot be reached")
}

// TestAdminHandsSwitchesToTheFleet: with Config.Fleet set, POST /switch and
// /rollback go to it (errors keep their code and status), and this instance alone
// does not move.
func TestAdminHandsSwitchesToTheFleet(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	f := &recordingFleet{}
	cfg.Fleet = f
	cfg.FleetStatus = func() (any, any) { return []string{"edge-1"}, map[string]bool{"database_up": true} }
	s := startProxy(t, cfg)
	c := adminClient(cfg.AdminSocket)
	code, body := adminDo(t, c, "POST", "/switch", `{"app":"web","color":"green"}`)
	if code != 200 || body["message"] != "fleet moved" {
		t.Errorf("switch = %d %v", code, body)
	}
	code, body = adminDo(t, c, "POST", "/rollback", `{"app":"web"}`)
	if code != 503 || body["code"] != "database_down" {
		t.Errorf("rollback = %d %v", code, body)
	}
	if strings.Join(f.calls, ",") != "switch web green,rollback web" {
		t.Errorf("fleet calls = %v", f.calls)
	}
	if s.ActiveColors()["web"] != "blue" {
		t.Error("the instance moved by itself")
	}
	code, body = adminDo(t, c, "GET", "/status", "")
	if code != 200 || body["instances"] == nil || body["fleet"] == nil {
		t.Errorf("status = %d %v", code, body)
	}
}
