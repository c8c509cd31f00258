package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// verb is one subcommand. run gets the arguments after the verb name and returns the
// process exit code: 0 success, 1 the thing failed, 2 the command line was wrong.
type verb struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// verbs is filled by each verb's file in init, so adding a verb touches one file.
var verbs = map[string]verb{}

func register(name, summary string, run func(args []string, stdout, stderr io.Writer) int) {
	verbs[name] = verb{summary: summary, run: run}
}

func runCLI(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	v, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "edge: unknown command %q; run 'edge --help' for the list\n", args[0])
		return 2
	}
	return v.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "edge — TLS, blue/green proxy, static files and chat in one binary.")
	fmt.Fprintln(w, "\nUsage: edge COMMAND [flags]   (edge COMMAND --help for its flags)\n\nCommands:")
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, verbs[n].summary)
	}
}

// newFlags makes a flag set that prints its usage to stdout on --help and whose errors
// are returned, not fatal.
func newFlags(name, usageLine string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "Usage: edge %s\n\n%s\n\nFlags:\n", usageLine, verbs[name].summary)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags returns (exit code, done). done means the caller must return the code:
// --help was printed (0) or the flags were wrong (2).
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0, true
	}
	if err != nil {
		fmt.Fprintf(stderr, "edge %s: %v; see 'edge %s --help'\n", fs.Name(), err, fs.Name())
		return 2, true
	}
	return 0, false
}

// noExtraArgs rejects positional arguments a verb does not take.
func noExtraArgs(fs *flag.FlagSet, stderr io.Writer) (int, bool) {
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "edge %s: unexpected argument %q; see 'edge %s --help'\n", fs.Name(), strings.Join(fs.Args(), " "), fs.Name())
		return 2, true
	}
	return 0, false
}

const defaultConfigPath = "/etc/edge/edge.yaml"
