package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// stateVersion is written into state.json; a file with another version is ignored.
const stateVersion = 1

// maxStateBytes refuses absurd state files before parsing them.
const maxStateBytes = 1 << 20

// stateFile is the JSON shape of state.json.
type stateFile struct {
	Version int                     `json:"version"`
	Apps    map[string]stateFileApp `json:"apps"`
}

type stateFileApp struct {
	Active      string    `json:"active"`
	Previous    string    `json:"previous,omitempty"`
	Weight      int       `json:"weight,omitempty"`
	Paused      bool      `json:"paused,omitempty"`
	MaxWait     string    `json:"max_wait,omitempty"`
	Maintenance bool      `json:"maintenance,omitempty"`
	Message     string    `json:"message,omitempty"`
	ChangedAt   time.Time `json:"changed_at,omitzero"`
}

// AppState is everything an operator sets on one app: the live color, the color
// before it, a running canary, pause and maintenance. It is persisted as one entry of
// state.json and changed only through Server.ApplyState (switches use it too), so
// whatever drives it (the admin API, a fleet) gets the same write-then-apply order.
type AppState struct {
	Active      Color
	Previous    Color
	HasPrevious bool // false before the first switch
	// Weight is a running canary: the percentage (1–99) of visitors sent to
	// Active.Other(); 0 when none.
	Weight int
	// Paused holds new requests until resumed, each at most MaxWait (then 503).
	Paused  bool
	MaxWait time.Duration
	// Maintenance answers 503 with Message (or a default sentence) and Retry-After.
	Maintenance bool
	Message     string
	ChangedAt   time.Time
}

func (st AppState) previous() int32 {
	if !st.HasPrevious {
		return -1
	}
	return int32(st.Previous)
}

// validate refuses states edge cannot run; messages name the field as the admin API does.
func (st AppState) validate() error {
	switch {
	case st.Active > Green || st.Previous > Green:
		return fmt.Errorf("a color is not blue or green")
	case st.Weight < 0 || st.Weight > MaxWeight:
		return fmt.Errorf("weight %d is outside 1 to %d", st.Weight, MaxWeight)
	case st.MaxWait < 0 || st.MaxWait > MaxPauseWait:
		return fmt.Errorf("max_wait %s is outside 0 to %s", st.MaxWait, MaxPauseWait)
	case len(st.Message) > MaxMaintenanceMessage:
		return fmt.Errorf("the maintenance message is longer than %d bytes", MaxMaintenanceMessage)
	}
	return nil
}

// stateStore reads and atomically writes the state file. Entries for apps that are
// not in the current config are kept, so removing an app for a while forgets nothing.
type stateStore struct {
	path string
	log  *zap.Logger
	mu   sync.Mutex
	apps map[string]AppState
}

// load reads the file. A missing, unreadable or corrupt file is not fatal: every
// app starts on blue, with a warning for anything but "missing".
func (s *stateStore) load() map[string]AppState {
	s.apps = map[string]AppState{}
	if s.path == "" {
		return s.apps
	}
	data, err := readLimited(s.path, maxStateBytes)
	if errors.Is(err, fs.ErrNotExist) {
		s.log.Info("no state file yet; every app starts on blue", zap.String("file", s.path))
		return s.apps
	}
	if err != nil {
		s.log.Warn("cannot read the state file; every app starts on blue", zap.String("file", s.path), zap.Error(err))
		return s.apps
	}
	apps, err := decodeState(data)
	if err != nil {
		s.log.Warn("the state file is corrupt; every app starts on blue until the next switch rewrites it",
			zap.String("file", s.path), zap.Error(err))
		return s.apps
	}
	s.apps = apps
	return apps
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than a state file can be", path, st.Size())
	}
	data := make([]byte, st.Size())
	_, err = io.ReadFull(f, data)
	return data, err
}

// decodeState parses state.json strictly enough that garbage is reported, not used.
func decodeState(data []byte) (map[string]AppState, error) {
	var sf stateFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if sf.Version != stateVersion {
		return nil, fmt.Errorf("version %d, want %d", sf.Version, stateVersion)
	}
	out := make(map[string]AppState, len(sf.Apps))
	for name, a := range sf.Apps {
		sa, err := a.decode()
		if err != nil {
			return nil, fmt.Errorf("app %q: %w", name, err)
		}
		out[name] = sa
	}
	return out, nil
}

func (a stateFileApp) decode() (AppState, error) {
	active, err := ParseColor(a.Active)
	if err != nil {
		return AppState{}, fmt.Errorf("active %w", err)
	}
	if y := a.ChangedAt.UTC().Year(); y < 0 || y > 9999 {
		return AppState{}, fmt.Errorf("changed_at %s is outside the years 0 to 9999 in UTC", a.ChangedAt)
	}
	sa := AppState{Active: active, Weight: a.Weight, Paused: a.Paused, Maintenance: a.Maintenance,
		Message: a.Message, ChangedAt: a.ChangedAt}
	if a.Previous != "" {
		p, err := ParseColor(a.Previous)
		if err != nil {
			return AppState{}, fmt.Errorf("previous %w", err)
		}
		sa.Previous, sa.HasPrevious = p, true
	}
	if a.MaxWait != "" {
		if sa.MaxWait, err = time.ParseDuration(a.MaxWait); err != nil {
			return AppState{}, fmt.Errorf("max_wait %q is not a duration", a.MaxWait)
		}
	}
	return sa, sa.validate()
}

func encodeStateApp(a AppState) stateFileApp {
	e := stateFileApp{Active: a.Active.String(), Weight: a.Weight, Paused: a.Paused,
		Maintenance: a.Maintenance, Message: a.Message, ChangedAt: a.ChangedAt.UTC()}
	if a.HasPrevious {
		e.Previous = a.Previous.String()
	}
	if a.MaxWait > 0 {
		e.MaxWait = a.MaxWait.String()
	}
	return e
}

// save records one app's new state and rewrites the file atomically: a temp file in
// the same directory, fsync, rename over the old file, fsync the directory.
func (s *stateStore) save(name string, sa AppState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]AppState, len(s.apps)+1)
	for k, v := range s.apps {
		next[k] = v
	}
	next[name] = sa
	if s.path != "" {
		if err := writeStateFile(s.path, next); err != nil {
			return err
		}
	}
	s.apps = next
	return nil
}

// encodeState is the inverse of decodeState.
func encodeState(apps map[string]AppState) ([]byte, error) {
	sf := stateFile{Version: stateVersion, Apps: map[string]stateFileApp{}}
	for name, a := range apps {
		sf.Apps[name] = encodeStateApp(a)
	}
	data, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding state: %w", err)
	}
	return append(data, '\n'), nil
}

func writeStateFile(path string, apps map[string]AppState) error {
	data, err := encodeState(apps)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".state-*.json")
	if err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing state directory: %w", err)
	}
	return nil
}

// snapshot returns the saved state of every app.
func (s *stateStore) snapshot() map[string]AppState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]AppState, len(s.apps))
	for k, v := range s.apps {
		out[k] = v
	}
	return out
}
