package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/edge-server/edge/internal/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestExampleConfigGolden keeps the shipped example valid and its summary reviewed. A
// static directory missing on this machine is only a warning, which the summary omits.
func TestExampleConfigGolden(t *testing.T) {
	data, err := os.ReadFile("../../configs/edge.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("configs/edge.example.yaml", data, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if errs := config.Validate(cfg, osFS{}); len(errs) > 0 {
		t.Fatal(errs)
	}
	got := summarize(cfg)
	golden := filepath.Join("testdata", "example.summary.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if got != string(want) {
		t.Errorf("summary changed; review and run go test ./cmd/edge -update\n--- got\n%s--- want\n%s", got, want)
	}
}
