package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

func init() {
	register("hash-password", "read a password on stdin, print its bcrypt hash for basic_auth", cmdHashPassword)
}

// passwordInput is where hash-password reads; tests replace it.
var passwordInput io.Reader = os.Stdin

func cmdHashPassword(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("hash-password", "hash-password [--cost N] < password-file", stdout)
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost (10–14): each step doubles the CPU of every login check")
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	if code, done := noExtraArgs(fs, stderr); done {
		return code
	}
	if *cost < bcrypt.DefaultCost || *cost > 14 {
		fmt.Fprintf(stderr, "edge hash-password: cost %d is outside 10–14\n", *cost)
		return 2
	}
	if f, ok := passwordInput.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(stderr, "Password (shown as you type; pipe it in to avoid that): ")
		}
	}
	pw, err := readPassword(passwordInput)
	if err != nil {
		fmt.Fprintf(stderr, "edge hash-password: %v\n", err)
		return 1
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), *cost)
	if err != nil {
		fmt.Fprintf(stderr, "edge hash-password: hashing the password: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, string(hash))
	return 0
}

// readPassword reads the first line (without its line ending); bcrypt uses at most
// 72 bytes, so a longer password is refused rather than silently cut.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	switch {
	case pw == "":
		return "", errors.New("no password on stdin (an empty first line)")
	case len(pw) > 72:
		return "", fmt.Errorf("the password is %d bytes; bcrypt uses at most 72, so a longer one would be cut silently", len(pw))
	}
	return pw, nil
}
