package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseConfig feeds the decoder and validator arbitrary files, seeded with every
// testdata config. Property: Parse either succeeds or returns non-empty Errors, every
// one naming the file and, except the whole-file ones (empty file, a YAML syntax error
// yaml.v3 reports without a position), a line; Validate reports every problem at a
// line, since a value it can complain about was written somewhere.
func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/config/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data, func(string) (string, bool) { return "", false })
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not a non-empty Errors: %T %v", err, err)
			}
			for _, e := range errs {
				wholeFile := cfg == nil && (strings.HasPrefix(e.Msg, "the file is empty") || strings.HasPrefix(e.Msg, "not valid YAML"))
				if e.File != "fuzz.yaml" || e.Msg == "" || (e.Line <= 0 && !wholeFile) {
					t.Fatalf("decoding error without file:line: %#v", e)
				}
			}
		}
		if cfg == nil {
			return
		}
		for _, e := range Validate(cfg, fakeDirs{}) {
			if e.File != "fuzz.yaml" || e.Msg == "" || e.Line <= 0 {
				t.Fatalf("validation error without file:line: %#v\nin:\n%s", e, data)
			}
		}
	})
}

// FuzzExpandEnv checks ${VAR} expansion against what docs/config.md promises. It always
// terminates (one pass over the input) and never panics; text without "$" is returned
// as is; doubling every "$" escapes the text, so it expands back to itself; ${NAME}
// gives NAME's value verbatim (no re-expansion), and ${NAME:-d} gives d when NAME is
// unset or empty.
func FuzzExpandEnv(f *testing.F) {
	for _, s := range []string{"plain", "${A}", "x${A}y", "${UNSET:-d}", "$$", "$A", "end$", "${", "${}", "pa$$word-$x", "${A:-${B}}"} {
		f.Add(s, "A", "v$al${A}")
	}
	f.Fuzz(func(t *testing.T, s, name, value string) {
		env := map[string]string{name: value}
		lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		got, err := expandEnv(s, lookup)
		if !strings.Contains(s, "$") && (got != s || err != nil) {
			t.Fatalf("expandEnv(%q) = %q, %v; text without $ must come back unchanged", s, got, err)
		}
		if err != nil && got != "" {
			t.Fatalf("expandEnv(%q) returned %q with error %v", s, got, err)
		}
		escaped := strings.ReplaceAll(s, "$", "$$")
		if back, err := expandEnv(escaped, lookup); back != s || err != nil {
			t.Fatalf("expandEnv(%q) = %q, %v; $$ must escape $", escaped, back, err)
		}
		if !validEnvName(name) {
			return
		}
		if got, err := expandEnv("<${"+name+"}>", lookup); got != "<"+value+">" || err != nil {
			t.Fatalf("${%s} with %s=%q gave %q, %v", name, name, value, got, err)
		}
		if def := strings.ReplaceAll(s, "}", ""); !strings.Contains(def, "$") {
			delete(env, name)
			if got, err := expandEnv("${"+name+":-"+def+"}", lookup); got != def || err != nil {
				t.Fatalf("${%s:-%s} with %s unset gave %q, %v", name, def, name, got, err)
			}
		}
	})
}
