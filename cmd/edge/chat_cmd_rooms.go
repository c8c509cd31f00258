package main

import (
	"fmt"
	"io"

	"github.com/edge-server/edge/chat"
)

func init() {
	chatSubverbs["rooms"] = chatSubverb{usage: "rooms [--json] [--socket PATH | --config FILE]",
		summary: "list rooms: stored messages, last activity, users online on this instance", run: cmdChatRooms}
}

func cmdChatRooms(args []string, stdout, stderr io.Writer) int {
	return chatListing("rooms", "/chat/rooms", "rooms", "no rooms yet", args, stdout, stderr, func(tw io.Writer, items []chat.RoomInfo) {
		fmt.Fprintln(tw, "ROOM\tMESSAGES\tLAST ACTIVITY\tONLINE HERE")
		for _, r := range items {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", r.Room, r.Messages, formatWhen(r.LastActivity), r.Online)
		}
	})
}
