package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// edge chat SUBVERB: moderation of the running edge's chat through the admin socket
// (the chat's admin endpoints are mounted there only; see docs/chat-protocol.md).

type chatSubverb struct {
	usage   string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var chatSubverbs = map[string]chatSubverb{}

func init() {
	register("chat", "moderate the chat: rooms, delete, ban, unban, bans", cmdChat)
}

func cmdChat(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, "Usage: edge chat SUBCOMMAND [flags]   (edge chat SUBCOMMAND --help for its flags)\n\nSubcommands:")
		names := make([]string, 0, len(chatSubverbs))
		for n := range chatSubverbs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(stdout, "  %-7s %s\n", n, chatSubverbs[n].summary)
		}
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sv, ok := chatSubverbs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "edge chat: unknown subcommand %q; run 'edge chat --help' for the list\n", args[0])
		return 2
	}
	return sv.run(args[1:], stdout, stderr)
}

// chatFlags is newFlags for a chat subcommand ("edge chat ban: …" in errors).
func chatFlags(name string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("chat "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		sv := chatSubverbs[name]
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "Usage: edge chat %s\n\n%s\n\nFlags:\n", sv.usage, sv.summary)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// chatCall sends one moderation request and prints the daemon's error as one sentence.
func chatCall(verb string, sf *socketFlags, method, path string, in, out any, stderr io.Writer) bool {
	socket, err := sf.resolve()
	if err != nil {
		fmt.Fprintf(stderr, "edge chat %s: %v\n", verb, err)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := newAdminClient(socket).call(ctx, method, path, in, out); err != nil {
		msg := err.Error()
		if strings.Contains(msg, "no admin endpoint /chat/") {
			msg = "this edge has no chat (no route with chat: true) or predates chat moderation"
		}
		fmt.Fprintf(stderr, "edge chat %s: %s\n", verb, msg)
		return false
	}
	return true
}

func formatWhen(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// chatListing runs a read-only listing verb (`edge chat rooms|bans|held [--json]`): GET
// path on the admin socket, then print either the daemon's JSON as it came or the list
// under key as an aligned table (table writes the header and one line per item).
func chatListing[T any](verb, path, key, empty string, args []string, stdout, stderr io.Writer, table func(tw io.Writer, items []T)) int {
	fs := chatFlags(verb, stdout)
	asJSON := fs.Bool("json", false, "print the daemon's JSON answer")
	sock := addSocketFlags(fs)
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	if code, done := noExtraArgs(fs, stderr); done {
		return code
	}
	var raw json.RawMessage
	if !chatCall(verb, sock, "GET", path, nil, &raw, stderr) {
		return 1
	}
	if *asJSON {
		fmt.Fprintf(stdout, "%s", raw)
		return 0
	}
	var res map[string]json.RawMessage
	var items []T
	err := json.Unmarshal(raw, &res)
	if err == nil && res[key] != nil {
		err = json.Unmarshal(res[key], &items)
	}
	if err != nil {
		fmt.Fprintf(stderr, "edge chat %s: edge's answer is not the expected JSON: %v\n", verb, err)
		return 1
	}
	if len(items) == 0 {
		fmt.Fprintln(stdout, empty)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	table(tw, items)
	_ = tw.Flush()
	return 0
}
