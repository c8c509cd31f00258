package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/edge-server/edge/chat"
)

func init() {
	chatSubverbs["held"] = chatSubverb{usage: "held [--json] [--socket PATH | --config FILE]",
		summary: "list messages the word filter holds for review (filter action: hold)", run: cmdChatHeld}
	chatSubverbs["approve"] = chatSubverb{usage: "approve HELD-ID... [--socket PATH | --config FILE]",
		summary: "deliver held messages to their rooms", run: func(args []string, stdout, stderr io.Writer) int {
			return cmdChatReview("approve", args, stdout, stderr)
		}}
	chatSubverbs["reject"] = chatSubverb{usage: "reject HELD-ID... [--socket PATH | --config FILE]",
		summary: "discard held messages", run: func(args []string, stdout, stderr io.Writer) int {
			return cmdChatReview("reject", args, stdout, stderr)
		}}
}

func cmdChatHeld(args []string, stdout, stderr io.Writer) int {
	return chatListing("held", "/chat/held", "held", "no messages are held for review", args, stdout, stderr, func(tw io.Writer, items []chat.HeldMessage) {
		fmt.Fprintln(tw, "HELD-ID\tROOM\tSENDER\tSENT\tCONTENT")
		for _, h := range items {
			content := strings.Join(strings.Fields(h.Content), " ") // one line per message
			if r := []rune(content); len(r) > 80 {
				content = string(r[:79]) + "…"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", h.ID, h.Room, h.SenderID, formatWhen(h.CreatedAt), content)
		}
	})
}

func cmdChatReview(verb string, args []string, stdout, stderr io.Writer) int {
	fs := chatFlags(verb, stdout)
	sock := addSocketFlags(fs)
	pos, code, done := parseInterspersed(fs, args, stderr)
	if done {
		return code
	}
	if len(pos) == 0 {
		fmt.Fprintf(stderr, "edge chat %s: name the held ids (see 'edge chat held')\n", verb)
		return 2
	}
	ids := make([]int64, len(pos))
	for i, p := range pos {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil || id <= 0 {
			fmt.Fprintf(stderr, "edge chat %s: %q is not a held id (see 'edge chat held')\n", verb, p)
			return 2
		}
		ids[i] = id
	}
	var res struct {
		Approved []chat.Message `json:"approved"`
		Rejected int            `json:"rejected"`
	}
	if !chatCall(verb, sock, "POST", "/chat/"+verb, map[string]any{"ids": ids}, &res, stderr) {
		return 1
	}
	if verb == "reject" {
		fmt.Fprintf(stdout, "discarded %d held message(s)\n", res.Rejected)
		return 0
	}
	for _, m := range res.Approved {
		fmt.Fprintf(stdout, "delivered to %s as message %d\n", m.Room, m.ID)
	}
	return 0
}
