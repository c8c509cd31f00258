package main

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashPassword(t *testing.T) {
	tests := []struct {
		name, input string
		args        []string
		code        int
		wantErr     string
	}{
		{"one line", "s3cret\n", nil, 0, ""},
		{"CRLF", "s3cret\r\n", nil, 0, ""},
		{"no newline", "s3cret", nil, 0, ""},
		{"only the first line", "s3cret\nignored\n", nil, 0, ""},
		{"empty", "\n", nil, 1, "no password"},
		{"too long", strings.Repeat("x", 73) + "\n", nil, 1, "at most 72"},
		{"cost too low", "s3cret\n", []string{"--cost", "4"}, 2, "outside 10–14"},
		{"extra argument", "s3cret\n", []string{"s3cret"}, 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := passwordInput
			passwordInput = strings.NewReader(tc.input)
			t.Cleanup(func() { passwordInput = old })
			var out, errb bytes.Buffer
			code := runCLI(append([]string{"hash-password"}, tc.args...), &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.wantErr) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, tc.code, errb.String(), tc.wantErr)
			}
			if code != 0 {
				return
			}
			hash := strings.TrimSpace(out.String())
			if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")); err != nil {
				t.Fatalf("printed %q, which does not verify: %v", hash, err)
			}
		})
	}
}
