package main

import (
	"fmt"
	"io"
)

func init() {
	register("maintenance", "answer an app's requests with a 503 maintenance page (on), or stop (off)", cmdMaintenance)
}

func cmdMaintenance(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("maintenance", "maintenance on|off [--app NAME] [--message M] [--socket PATH | --config FILE]\n\n"+
		"  While on, every request to the app gets 503 with Retry-After and a small page (HTML, or\n"+
		"  JSON for clients that ask for it) saying --message. Health checks go on; static routes\n"+
		"  and the chat are not affected.", stdout)
	app := fs.String("app", "", "app to put in or out of maintenance (may be left out when there is one app)")
	message := fs.String("message", "", "what the maintenance page says (default: a sentence asking to come back shortly)")
	sock := addSocketFlags(fs)
	pos, code, done := parseInterspersed(fs, args, stderr)
	if done {
		return code
	}
	if len(pos) != 1 || pos[0] != "on" && pos[0] != "off" {
		fmt.Fprintf(stderr, "edge maintenance: say on or off; see 'edge maintenance --help'\n")
		return 2
	}
	req := map[string]any{"on": pos[0] == "on"}
	if *app != "" {
		req["app"] = *app
	}
	if *message != "" {
		req["message"] = *message
	}
	return runSwitch("maintenance", "/maintenance", req, sock, stdout, stderr)
}
