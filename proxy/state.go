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
	Active    string    `json:"active"`
	Previous  string    `json:"previous,omitempty"`
	ChangedAt time.Time `json:"changed_at,omitzero"`
}

// savedApp is one app's persisted state, decoded.
type savedApp struct {
	active    Color
	previous  int32 // -1: none
	changedAt time.Time
}

// stateStore reads and atomically writes the state file. Entries for apps that are
// not in the current config are kept, so removing an app for a while forgets nothing.
type stateStore struct {
	path string
	log  *zap.Logger
	mu   sync.Mutex
	apps map[string]savedApp
}

// load reads the file. A missing, unreadable or corrupt file is not fatal: every
// app starts on blue, with a warning for anything but "missing".
func (s *stateStore) load() map[string]savedApp {
	s.apps = map[string]savedApp{}
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
func decodeState(data []byte) (map[string]savedApp, error) {
	var sf stateFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if sf.Version != stateVersion {
		return nil, fmt.Errorf("version %d, want %d", sf.Version, stateVersion)
	}
	out := make(map[string]savedApp, len(sf.Apps))
	for name, a := range sf.Apps {
		active, err := ParseColor(a.Active)
		if err != nil {
			return nil, fmt.Errorf("app %q: active %w", name, err)
		}
		if y := a.ChangedAt.UTC().Year(); y < 0 || y > 9999 {
			return nil, fmt.Errorf("app %q: changed_at %s is outside the years 0 to 9999 in UTC", name, a.ChangedAt)
		}
		sa := savedApp{active: active, previous: -1, changedAt: a.ChangedAt}
		if a.Previous != "" {
			p, err := ParseColor(a.Previous)
			if err != nil {
				return nil, fmt.Errorf("app %q: previous %w", name, err)
			}
			sa.previous = int32(p)
		}
		out[name] = sa
	}
	return out, nil
}

// save records one app's new state and rewrites the file atomically: a temp file in
// the same directory, fsync, rename over the old file, fsync the directory.
func (s *stateStore) save(name string, sa savedApp) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]savedApp, len(s.apps)+1)
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
func encodeState(apps map[string]savedApp) ([]byte, error) {
	sf := stateFile{Version: stateVersion, Apps: map[string]stateFileApp{}}
	for name, a := range apps {
		e := stateFileApp{Active: a.active.String(), ChangedAt: a.changedAt.UTC()}
		if a.previous >= 0 {
			e.Previous = Color(a.previous).String()
		}
		sf.Apps[name] = e
	}
	data, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding state: %w", err)
	}
	return append(data, '\n'), nil
}

func writeStateFile(path string, apps map[string]savedApp) error {
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
func (s *stateStore) snapshot() map[string]savedApp {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]savedApp, len(s.apps))
	for k, v := range s.apps {
		out[k] = v
	}
	return out
}
