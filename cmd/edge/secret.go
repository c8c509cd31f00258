package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// chatSecretFile is where a generated chat token key lives inside state_dir.
const chatSecretFile = "chat-secret"

// loadOrCreateSecret returns the key in stateDir/chat-secret, creating it (32 random
// bytes, hex, mode 0600, written atomically) on first use. Tokens issued before a restart
// stay valid because the key survives it.
func loadOrCreateSecret(stateDir string) ([]byte, error) {
	path := filepath.Join(stateDir, chatSecretFile)
	if b, err := os.ReadFile(path); err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			return nil, fmt.Errorf("chat secret %s is shorter than 32 characters; delete it to have a new one generated", path)
		}
		return []byte(s), nil
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("reading chat secret: %w", err)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state_dir: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	secret := []byte(hex.EncodeToString(raw))
	if err := writeFileAtomic(path, append(secret, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("writing chat secret: %w", err)
	}
	return secret, nil
}

// writeFileAtomic writes via a temp file in the same directory, fsyncs it, renames it
// over path and fsyncs the directory, so a crash leaves the old or the new file, never half.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
