package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/edge-server/edge/chat"
)

func init() {
	chatSubverbs["delete"] = chatSubverb{usage: "delete ID... [--socket PATH | --config FILE]",
		summary: "delete messages: members see a placeholder at once; nothing is deleted if an id is unknown", run: cmdChatDelete}
}

func cmdChatDelete(args []string, stdout, stderr io.Writer) int {
	fs := chatFlags("delete", stdout)
	sock := addSocketFlags(fs)
	pos, code, done := parseInterspersed(fs, args, stderr)
	if done {
		return code
	}
	if len(pos) == 0 {
		fmt.Fprintln(stderr, "edge chat delete: name the ids of the messages to delete (a message's \"id\"); see 'edge chat delete --help'")
		return 2
	}
	ids := make([]int64, len(pos))
	for i, p := range pos {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil || id <= 0 {
			fmt.Fprintf(stderr, "edge chat delete: %q is not a message id (ids are positive numbers)\n", p)
			return 2
		}
		ids[i] = id
	}
	var res struct {
		Deleted []chat.DeletedRef `json:"deleted"`
	}
	if !chatCall("delete", sock, "POST", "/chat/delete", map[string]any{"ids": ids}, &res, stderr) {
		return 1
	}
	parts := make([]string, len(res.Deleted))
	for i, d := range res.Deleted {
		parts[i] = fmt.Sprintf("%d in %s", d.ID, d.Room)
	}
	noun := "messages"
	if len(parts) == 1 {
		noun = "message"
	}
	fmt.Fprintf(stdout, "deleted %d %s: %s\n", len(parts), noun, strings.Join(parts, ", "))
	return 0
}
