package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"
)

// defaultEnvFile is edge.service's EnvironmentFile: secrets like DATABASE_URL that the
// config references as ${VAR}. doctor reads it so it sees what the service sees.
const defaultEnvFile = "/etc/edge/edge.env"

// maxEnvFileBytes bounds the file; an environment file is a few lines.
const maxEnvFileBytes = 64 << 10

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseEnvFile reads systemd's EnvironmentFile syntax: KEY=VALUE lines, '#' or ';'
// comments, values optionally in single or double quotes (double quotes understand
// \" \\ \$ \n), a trailing backslash continuing the line.
func parseEnvFile(r io.Reader) (map[string]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxEnvFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxEnvFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxEnvFileBytes)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxEnvFileBytes+1)
	lineNo, pending := 0, ""
	for sc.Scan() {
		lineNo++
		line := pending + sc.Text()
		if strings.HasSuffix(line, `\`) && !strings.HasSuffix(line, `\\`) {
			pending = strings.TrimSuffix(line, `\`)
			continue
		}
		pending = ""
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !envName.MatchString(key) {
			return nil, fmt.Errorf("line %d: want KEY=VALUE, got %q", lineNo, clip(line))
		}
		v, err := unquoteEnv(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("line %d (%s): %w", lineNo, key, err)
		}
		vars[key] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if pending != "" {
		return nil, fmt.Errorf("line %d: ends with a backslash", lineNo)
	}
	return vars, nil
}

func unquoteEnv(v string) (string, error) {
	if len(v) == 0 || (v[0] != '"' && v[0] != '\'') {
		return v, nil
	}
	q := v[0]
	if len(v) < 2 || v[len(v)-1] != q {
		return "", errors.New("unterminated quote")
	}
	inner := v[1 : len(v)-1]
	if q == '\'' {
		return inner, nil
	}
	var b strings.Builder
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		if c == '"' {
			return "", errors.New("unescaped \" inside double quotes")
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(inner) {
			return "", errors.New("dangling backslash")
		}
		switch inner[i] {
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(inner[i])
		}
	}
	return b.String(), nil
}

// envLookup returns a lookup that prefers the variables of the environment file (as
// the service would see them) over the shell's, and a note when the file could not be
// used. A missing default file is normal (no secrets needed); explicit ones must exist.
func envLookup(path string, explicit bool) (func(string) (string, bool), string) {
	f, err := os.Open(path)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist) && !explicit:
			return os.LookupEnv, ""
		case errors.Is(err, fs.ErrPermission):
			return os.LookupEnv, fmt.Sprintf("cannot read %s (permission denied): ${VARS} set there are missing here; run doctor with sudo", path)
		}
		return os.LookupEnv, fmt.Sprintf("environment file: %v; using this shell's environment", unwrapPathError(err))
	}
	defer f.Close()
	vars, err := parseEnvFile(f)
	if err != nil {
		return os.LookupEnv, fmt.Sprintf("environment file %s is not valid (%v); systemd would skip such lines", path, err)
	}
	return func(k string) (string, bool) {
		if v, ok := vars[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	}, ""
}
