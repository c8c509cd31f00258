package main

import (
	"fmt"
	"io"

	"github.com/edge-server/edge/proxy"
)

func init() {
	register("pause", "hold an app's new requests (they wait, nothing fails) until 'edge resume'", cmdPause)
}

func cmdPause(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("pause", "pause [--app NAME] [--max-wait D] [--socket PATH | --config FILE]\n\n"+
		"  Requests that arrive while paused wait, in order, for 'edge resume'; one that waits\n"+
		"  longer than --max-wait gets 503 with Retry-After. Requests in flight finish.", stdout)
	app := fs.String("app", "", "app to pause (may be left out when there is one app)")
	maxWait := fs.Duration("max-wait", 0, fmt.Sprintf("how long one request may be held (default %s, at most %s)", proxy.DefaultPauseMaxWait, proxy.MaxPauseWait))
	sock := addSocketFlags(fs)
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	if code, done := noExtraArgs(fs, stderr); done {
		return code
	}
	req := map[string]any{}
	if *app != "" {
		req["app"] = *app
	}
	if *maxWait != 0 {
		req["max_wait"] = maxWait.String() // the daemon refuses what is out of range
	}
	return runSwitch("pause", "/pause", req, sock, stdout, stderr)
}
