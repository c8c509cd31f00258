package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestChatSecretIsGeneratedOnceAndKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	a, err := loadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) || len(a) != 64 {
		t.Fatalf("secret changed or has wrong length: %q %q", a, b)
	}
	st, err := os.Stat(filepath.Join(dir, chatSecretFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, err %v", st.Mode(), err)
	}
}

func TestChatSecretTooShortIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, chatSecretFile), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateSecret(dir); err == nil || !strings.Contains(err.Error(), "shorter than 32") {
		t.Fatalf("err = %v", err)
	}
}
