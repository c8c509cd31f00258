package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestRestartRestoresGreen(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	dir := shortTempDir(t)
	cfg := oneApp(blue, green, dir)
	s1, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Switch(context.Background(), "web", Green, 0); err != nil {
		t.Fatal(err)
	}
	if err := s1.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	var sf stateFile
	if err := json.Unmarshal(data, &sf); err != nil || sf.Apps["web"].Active != "green" || sf.Apps["web"].Previous != "blue" {
		t.Fatalf("state file %s: %v", data, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 { // state.json only: no temp files, socket removed
		t.Fatalf("leftovers in the state dir: %v", entries)
	}
	s2 := startProxy(t, cfg)
	if _, body, _ := get(t, client(s2), "a", "/"); body != "green" {
		t.Fatalf("after restart traffic goes to %q", body)
	}
	if st := s2.Status().Apps[0]; st.Active != "green" || st.Previous != "blue" {
		t.Fatalf("status %+v", st)
	}
}

func TestRestoredColorUnhealthyWarns(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	dir := shortTempDir(t)
	cfg := oneApp(blue, green, dir)
	if err := writeStateFile(cfg.StateFile, map[string]AppState{"web": {Active: Green, Previous: Blue, HasPrevious: true}}); err != nil {
		t.Fatal(err)
	}
	green.health.Store(503)
	core, logs := observer.New(zapcore.WarnLevel)
	s, err := New(cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background()) //nolint:errcheck
	if logs.FilterMessageSnippet("live color is not healthy").Len() != 1 {
		t.Fatalf("no warning; logs: %v", logs.All())
	}
	// It still serves from the restored color: the operator decides, not edge.
	if _, body, _ := get(t, client(s), "a", "/"); body != "green" {
		t.Fatalf("traffic on %q", body)
	}
}

func TestBadStateFileFallsBackToBlue(t *testing.T) {
	tests := []struct {
		name    string
		content string
		dir     bool
	}{
		{"garbage", "\x00\x01 not json", false},
		{"truncated", `{"version":1,"apps":{"web":{"active":"gre`, false},
		{"unknown color", `{"version":1,"apps":{"web":{"active":"purple"}}}`, false},
		{"wrong version", `{"version":99,"apps":{"web":{"active":"green"}}}`, false},
		{"wrong shape", `[1,2,3]`, false},
		{"empty", ``, false},
		{"a directory", ``, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
			dir := shortTempDir(t)
			cfg := oneApp(blue, green, dir)
			if tc.dir {
				if err := os.Mkdir(cfg.StateFile, 0o700); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(cfg.StateFile, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			core, logs := observer.New(zapcore.WarnLevel)
			s, err := New(cfg, zap.New(core))
			if err != nil {
				t.Fatalf("New failed on a bad state file: %v", err)
			}
			if logs.FilterMessageSnippet("state file").Len() == 0 {
				t.Errorf("no warning about the state file")
			}
			if st := s.Status().Apps[0]; st.Active != "blue" {
				t.Fatalf("active %s", st.Active)
			}
		})
	}
}

func TestMissingStateFileIsQuiet(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	core, logs := observer.New(zapcore.WarnLevel)
	if _, err := New(oneApp(blue, green, shortTempDir(t)), zap.New(core)); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Fatalf("warnings for a first start: %v", logs.All())
	}
}

// TestSwitchRefusedWhenStateCannotBeWritten: if the switch cannot be recorded it does
// not happen, so the file and the traffic never disagree.
func TestSwitchRefusedWhenStateCannotBeWritten(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	dir := shortTempDir(t)
	cfg := oneApp(blue, green, dir)
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.StateFile = filepath.Join(blocker, "state.json")
	s := startProxy(t, cfg)
	_, err := s.Switch(context.Background(), "web", Green, 0)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeStateWrite || !strings.Contains(e.Msg, "traffic stays on blue") {
		t.Fatalf("switch: %v", err)
	}
	if _, body, _ := get(t, client(s), "a", "/"); body != "blue" {
		t.Fatalf("traffic on %q", body)
	}
}

func TestStateKeepsUnknownApps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	now := time.Now()
	if err := writeStateFile(path, map[string]AppState{"gone": {Active: Green, Previous: Blue, HasPrevious: true, ChangedAt: now}}); err != nil {
		t.Fatal(err)
	}
	st := &stateStore{path: path, log: zap.NewNop()}
	st.load()
	if err := st.save("web", AppState{Active: Green, Previous: Blue, HasPrevious: true, ChangedAt: now}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	apps, err := decodeState(data)
	if err != nil || apps["gone"].Active != Green || apps["web"].Active != Green {
		t.Fatalf("state %s: %v", data, err)
	}
}
