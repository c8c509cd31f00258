package main

import (
	"fmt"
	"io"
)

// Verbs whose feature has not landed yet. They fail loudly instead of pretending.
func init() {
	for name, summary := range map[string]string{
		"switch":   "move an app's traffic to a color after health checks, then drain the old one",
		"rollback": "move an app's traffic back to the previous color",
		"status":   "show apps, colors, health and in-flight requests",
		"demo":     "run a local demo with two built-in upstreams on 127.0.0.1:8080",
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
