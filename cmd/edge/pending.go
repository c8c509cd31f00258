package main

import (
	"fmt"
	"io"
)

// Verbs whose feature has not landed yet. They fail loudly instead of pretending.
func init() {
	for name, summary := range map[string]string{
		"reload": "re-read the config in the running daemon",
		"doctor": "check config, ports, DNS, upstreams, database and certificates",
	} {
		register(name, summary, notYet(name))
	}
}

func notYet(name string) func([]string, io.Writer, io.Writer) int {
	return func(args []string, stdout, stderr io.Writer) int {
		fs := newFlags(name, name, stdout)
		if code, done := parseFlags(fs, args, stderr); done {
			return code
		}
		fmt.Fprintf(stderr, "edge %s: not available yet in this build\n", name)
		return 2
	}
}
