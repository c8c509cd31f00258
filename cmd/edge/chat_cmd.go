package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
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
