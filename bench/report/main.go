// Command report turns the raw wrk results of bench/run.sh into the summary table
// (stdout) and results.json, results.csv and results.md in the output directory.
//
//	report -raw raw.jsonl -machine machine.txt -out bench/results
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	raw := flag.String("raw", "", "raw.jsonl written by bench/run.sh (required)")
	machine := flag.String("machine", "", "key=value file describing the machine and versions")
	out := flag.String("out", "bench/results", "directory for results.json, results.csv, results.md")
	docs := flag.String("docs", "", "also update the marked machine/results sections of this Markdown file")
	flag.Parse()
	if err := run(*raw, *machine, *out, *docs, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(rawPath, machinePath, outDir, docsPath string, stdout io.Writer) error {
	if rawPath == "" {
		return fmt.Errorf("-raw is required")
	}
	f, err := os.Open(rawPath)
	if err != nil {
		return fmt.Errorf("opening raw results: %w", err)
	}
	defer f.Close()
	lines, err := readRaw(f)
	if err != nil {
		return fmt.Errorf("reading %s: %w", rawPath, err)
	}
	res := Results{Machine: map[string]string{}, Scenarios: aggregate(lines)}
	if machinePath != "" {
		if res.Machine, err = readKeyValues(machinePath); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", outDir, err)
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	var csvBuf, mdBuf bytes.Buffer
	if err := writeCSV(&csvBuf, res); err != nil {
		return fmt.Errorf("writing CSV: %w", err)
	}
	if err := writeMarkdown(&mdBuf, res); err != nil {
		return fmt.Errorf("writing Markdown: %w", err)
	}
	for name, data := range map[string][]byte{
		"results.json": append(js, '\n'),
		"results.csv":  csvBuf.Bytes(),
		"results.md":   mdBuf.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(outDir, name), data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	if docsPath != "" {
		var mach bytes.Buffer
		writeMachine(&mach, res.Machine)
		if err := spliceDocs(docsPath, map[string][]byte{"machine": mach.Bytes(), "results": mdBuf.Bytes()}); err != nil {
			return err
		}
	}
	return writeText(stdout, res)
}

// readKeyValues reads "key=value" lines; other lines are an error.
func readKeyValues(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening machine description: %w", err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s:%d: want key=value, got %q", path, n, line)
		}
		m[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return m, nil
}
