package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/edge-server/edge/chat"
)

func init() {
	chatSubverbs["ban"] = chatSubverb{usage: "ban (--user ID | --ip CIDR) [--for D] [--reason R] [--socket PATH | --config FILE]",
		summary: "ban a user or an address range on every instance; their open connections are closed", run: cmdChatBan}
	chatSubverbs["unban"] = chatSubverb{usage: "unban (--user ID | --ip CIDR | BAN-ID) [--socket PATH | --config FILE]",
		summary: "remove a ban", run: cmdChatUnban}
	chatSubverbs["bans"] = chatSubverb{usage: "bans [--json] [--socket PATH | --config FILE]",
		summary: "list the active bans", run: cmdChatBans}
}

func cmdChatBan(args []string, stdout, stderr io.Writer) int {
	fs := chatFlags("ban", stdout)
	user := fs.String("user", "", "public user id to ban (a message's sender_id, u + 24 hex digits)")
	ip := fs.String("ip", "", "address or CIDR range to ban, e.g. 203.0.113.0/24 or 2001:db8::/64")
	dur := fs.Duration("for", 0, "how long the ban lasts, e.g. 24h (default: until unbanned)")
	reason := fs.String("reason", "", "why; shown to the banned client and in 'edge chat bans'")
	sock := addSocketFlags(fs)
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	if code, done := noExtraArgs(fs, stderr); done {
		return code
	}
	if (*user == "") == (*ip == "") {
		fmt.Fprintln(stderr, "edge chat ban: name exactly one of --user ID and --ip CIDR")
		return 2
	}
	if *dur < 0 {
		fmt.Fprintln(stderr, "edge chat ban: --for must be a positive duration like 24h")
		return 2
	}
	req := map[string]any{"user": *user, "cidr": *ip, "reason": *reason}
	if *dur > 0 {
		req["for"] = dur.String()
	}
	var res struct {
		Ban    chat.Ban `json:"ban"`
		Closed int      `json:"closed"`
	}
	if !chatCall("ban", sock, "POST", "/chat/ban", req, &res, stderr) {
		return 1
	}
	until := "until unbanned"
	if res.Ban.ExpiresAt != nil {
		until = "until " + formatWhen(*res.Ban.ExpiresAt)
	}
	fmt.Fprintf(stdout, "ban %d: %s is banned %s; %d connection(s) closed on this instance, other instances close theirs within a second\n",
		res.Ban.ID, banTarget(res.Ban), until, res.Closed)
	return 0
}

func banTarget(b chat.Ban) string {
	if b.User != "" {
		return "user " + b.User
	}
	return b.CIDR
}

func cmdChatUnban(args []string, stdout, stderr io.Writer) int {
	fs := chatFlags("unban", stdout)
	user := fs.String("user", "", "user id whose ban to remove")
	ip := fs.String("ip", "", "banned address range to unban, exactly as 'edge chat bans' lists it (or any address of a /32, /128)")
	sock := addSocketFlags(fs)
	pos, code, done := parseInterspersed(fs, args, stderr)
	if done {
		return code
	}
	req := map[string]any{}
	n := len(pos)
	if *user != "" {
		req["user"], n = *user, n+1
	}
	if *ip != "" {
		req["cidr"], n = *ip, n+1
	}
	if n != 1 {
		fmt.Fprintln(stderr, "edge chat unban: name exactly one of --user ID, --ip CIDR or a ban id from 'edge chat bans'")
		return 2
	}
	if len(pos) == 1 {
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || id <= 0 {
			fmt.Fprintf(stderr, "edge chat unban: %q is not a ban id (see 'edge chat bans')\n", pos[0])
			return 2
		}
		req["id"] = id
	}
	var res struct {
		Removed []chat.Ban `json:"removed"`
	}
	if !chatCall("unban", sock, "POST", "/chat/unban", req, &res, stderr) {
		return 1
	}
	for _, b := range res.Removed {
		fmt.Fprintf(stdout, "removed ban %d on %s\n", b.ID, banTarget(b))
	}
	return 0
}

func cmdChatBans(args []string, stdout, stderr io.Writer) int {
	return chatListing("bans", "/chat/bans", "bans", "no active bans", args, stdout, stderr, func(tw io.Writer, items []chat.Ban) {
		fmt.Fprintln(tw, "ID\tTARGET\tSINCE\tUNTIL\tREASON")
		for _, b := range items {
			until := "unbanned"
			if b.ExpiresAt != nil {
				until = formatWhen(*b.ExpiresAt)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", b.ID, banTarget(b), formatWhen(b.CreatedAt), until, b.Reason)
		}
	})
}
