package main

import (
	"bytes"
	"fmt"
	"os"
)

// spliceDocs replaces the text between "<!-- NAME:begin -->" and "<!-- NAME:end -->"
// in the docs file with the given blocks, leaving everything else (the hand-written
// method and notes) alone. A missing marker is an error: the docs must say where.
func spliceDocs(path string, blocks map[string][]byte) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading docs: %w", err)
	}
	for _, name := range []string{"machine", "results"} {
		body, ok := blocks[name]
		if !ok {
			continue
		}
		begin := []byte("<!-- " + name + ":begin -->\n")
		end := []byte("<!-- " + name + ":end -->")
		i := bytes.Index(data, begin)
		j := bytes.Index(data, end)
		if i < 0 || j < i {
			return fmt.Errorf("%s has no %q … %q markers", path, begin[:len(begin)-1], end)
		}
		var out bytes.Buffer
		out.Write(data[:i+len(begin)])
		out.Write(body)
		out.Write(data[j:])
		data = out.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("writing docs: %w", err)
	}
	return nil
}
