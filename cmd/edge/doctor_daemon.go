package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// checkDaemon checks the admin socket (exists, is a socket, mode 0660) and asks the
// daemon for GET /status, which also tells which color each app serves.
func (d *doctor) checkDaemon(ctx context.Context) {
	sock := d.socket
	st, err := os.Stat(sock)
	switch {
	case os.IsNotExist(err):
		d.fail(fmt.Sprintf("edge is not running: no admin socket at %s", sock),
			"start it: sudo systemctl start edge; if it stops again, journalctl -u edge -n 50 says why")
		return
	case err != nil:
		d.fail(fmt.Sprintf("admin socket %s: %v", sock, unwrapPathError(err)), "run doctor as root or as a member of group edge")
		return
	case st.Mode().Type() != os.ModeSocket:
		d.fail(fmt.Sprintf("admin socket %s is not a socket (%s)", sock, st.Mode().Type()),
			"remove it (sudo rm "+sock+") and restart edge: sudo systemctl restart edge")
		return
	}
	modeOK := st.Mode().Perm() == 0o660
	if !modeOK {
		d.fail(fmt.Sprintf("admin socket %s has mode %04o; want 0660 so only root and group edge can switch traffic", sock, st.Mode().Perm()),
			"edge creates it with 0660 at start: remove whatever changes it, then sudo chmod 0660 "+sock)
	}
	cctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	reply, err := opsAdminCall(cctx, sock, "GET", "/status", nil)
	if err != nil {
		d.fail(err.Error(), "sudo systemctl restart edge; journalctl -u edge -n 50 shows what went wrong")
		return
	}
	if reply.Status != 200 {
		d.fail(fmt.Sprintf("edge answered GET /status with HTTP %d: %s", reply.Status, clip(adminMessage(reply.Body))),
			"journalctl -u edge -n 50")
		return
	}
	var status struct {
		Apps []struct {
			Name   string `json:"name"`
			Active string `json:"active"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(reply.Body, &status); err != nil {
		d.fail("edge's GET /status answer is not the expected JSON: "+err.Error(), "is something else listening on "+sock+"?")
		return
	}
	d.running = true
	d.active = map[string]string{}
	var serving []string
	for _, a := range status.Apps {
		d.active[a.Name] = a.Active
		serving = append(serving, a.Name+" on "+a.Active)
	}
	sort.Strings(serving)
	if modeOK {
		line := fmt.Sprintf("edge is running (admin socket %s, mode 0660)", sock)
		if len(serving) > 0 {
			line += ": " + strings.Join(serving, ", ")
		}
		d.pass(line)
	}
}
