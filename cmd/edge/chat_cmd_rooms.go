package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/edge-server/edge/chat"
)

func init() {
	chatSubverbs["rooms"] = chatSubverb{usage: "rooms [--json] [--socket PATH | --config FILE]",
		summary: "list rooms: stored messages, last activity, users online on this instance", run: cmdChatRooms}
}

func cmdChatRooms(args []string, stdout, stderr io.Writer) int {
	fs := chatFlags("rooms", stdout)
	asJSON := fs.Bool("json", false, "print the daemon's JSON answer")
	sock := addSocketFlags(fs)
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	if code, done := noExtraArgs(fs, stderr); done {
		return code
	}
	var raw json.RawMessage
	if !chatCall("rooms", sock, "GET", "/chat/rooms", nil, &raw, stderr) {
		return 1
	}
	if *asJSON {
		fmt.Fprintf(stdout, "%s", raw)
		return 0
	}
	var res struct {
		Rooms []chat.RoomInfo `json:"rooms"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		fmt.Fprintf(stderr, "edge chat rooms: edge's answer is not the expected JSON: %v\n", err)
		return 1
	}
	if len(res.Rooms) == 0 {
		fmt.Fprintln(stdout, "no rooms yet")
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROOM\tMESSAGES\tLAST ACTIVITY\tONLINE HERE")
	for _, r := range res.Rooms {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", r.Room, r.Messages, formatWhen(r.LastActivity), r.Online)
	}
	_ = tw.Flush()
	return 0
}
