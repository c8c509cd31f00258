package main

import "io"

func init() {
	register("resume", "release an app's held requests, in order, and end the pause", cmdResume)
}

func cmdResume(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("resume", "resume [--app NAME] [--socket PATH | --config FILE]", stdout)
	app := fs.String("app", "", "app to resume (may be left out when there is one app)")
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
	return runSwitch("resume", "/resume", req, sock, stdout, stderr)
}
