package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/edge-server/edge/cluster"
	"github.com/edge-server/edge/proxy"
)

func init() {
	register("switch", "move an app's traffic to a color after health checks, then drain the old one", cmdSwitch)
	register("rollback", "move an app's traffic back to the previous color, or end a canary", cmdRollback)
}

func cmdSwitch(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("switch", "switch COLOR [--app NAME] [--timeout D] [--weight N] [--min-healthy N] [--socket PATH | --config FILE]\n\n"+
		"  edge switch green              every visitor to green (completes a canary), then drain blue\n"+
		"  edge switch green --weight 10  canary: 10% of visitors (sticky, by cookie or address) to green\n"+
		"  edge switch green --auto       canary 10%, 25%, 50% (1m each), back to blue if green's 5xx rate is worse, else complete\n"+
		"  edge rollback                  back to the previous color, or end a canary", stdout)
	app := fs.String("app", "", "app to switch (may be left out when there is one app)")
	timeout := fs.Duration("timeout", 0, "how long COLOR may take to pass its health checks (default: the daemon's, 10s)")
	weight := fs.Int("weight", 0, "canary: send this percentage (1-99) of visitors to COLOR; nothing drains")
	minHealthy := fs.Int("min-healthy", 0, "go ahead when this many of COLOR's replicas are healthy (default: all)")
	auto := fs.Bool("auto", false, "canary in --steps, each held --hold; back to the live color when COLOR's 5xx rate is worse by more than --max-error-rise points; else complete")
	steps := fs.String("steps", "", "with --auto: canary weights, e.g. 10,25,50 (default 10,25,50)")
	hold := fs.Duration("hold", 0, "with --auto: how long each step runs before the colors are compared (default 1m)")
	maxRise := fs.Float64("max-error-rise", 0, "with --auto: percentage points of 5xx COLOR may have above the live color (default 5)")
	sock := addSocketFlags(fs)
	pos, code, done := parseInterspersed(fs, args, stderr)
	if done {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "edge switch: name exactly one color, blue or green; see 'edge switch --help'\n")
		return 2
	}
	if _, err := proxy.ParseColor(pos[0]); err != nil {
		fmt.Fprintf(stderr, "edge switch: %q is not a color; say blue or green\n", pos[0])
		return 2
	}
	if *timeout < 0 || *timeout > proxy.MaxSwitchTimeout {
		fmt.Fprintf(stderr, "edge switch: --timeout must be more than 0 and at most %s\n", proxy.MaxSwitchTimeout)
		return 2
	}
	req := map[string]any{"color": pos[0]}
	if *app != "" {
		req["app"] = *app
	}
	if *timeout > 0 {
		req["timeout"] = timeout.String()
	}
	// Set values go to the daemon as they are: it refuses what is out of range with
	// one sentence (exit 1), the same for the CLI and the admin API.
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "weight":
			req["weight"] = *weight
		case "min-healthy":
			req["min_healthy"] = *minHealthy
		}
	})
	if *auto {
		a, err := autoRequest(*steps, *hold, *maxRise)
		if err != nil {
			fmt.Fprintf(stderr, "edge switch: %v\n", err)
			return 2
		}
		req["auto"] = a
	} else if *steps != "" || *hold != 0 || *maxRise != 0 {
		fmt.Fprintf(stderr, "edge switch: --steps, --hold and --max-error-rise go with --auto\n")
		return 2
	}
	return runSwitch("switch", "/switch", req, sock, stdout, stderr)
}

// autoRequest builds the "auto" object of POST /switch; the daemon checks ranges.
func autoRequest(steps string, hold time.Duration, maxRise float64) (map[string]any, error) {
	a := map[string]any{}
	if steps != "" {
		var list []int
		for _, f := range strings.Split(steps, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return nil, fmt.Errorf("--steps %q is not a list of percentages such as 10,25,50", steps)
			}
			list = append(list, n)
		}
		a["steps"] = list
	}
	if hold != 0 {
		a["hold"] = hold.String()
	}
	if maxRise != 0 {
		a["max_error_rise"] = maxRise
	}
	return a, nil
}

func cmdRollback(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("rollback", "rollback [--app NAME] [--timeout D] [--socket PATH | --config FILE]", stdout)
	app := fs.String("app", "", "app to roll back (may be left out when there is one app)")
	timeout := fs.Duration("timeout", 0, "how long the previous color may take to pass its health checks")
	sock := addSocketFlags(fs)
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	if code, done := noExtraArgs(fs, stderr); done {
		return code
	}
	if *timeout < 0 || *timeout > proxy.MaxSwitchTimeout {
		fmt.Fprintf(stderr, "edge rollback: --timeout must be more than 0 and at most %s\n", proxy.MaxSwitchTimeout)
		return 2
	}
	req := map[string]any{}
	if *app != "" {
		req["app"] = *app
	}
	if *timeout > 0 {
		req["timeout"] = timeout.String()
	}
	return runSwitch("rollback", "/rollback", req, sock, stdout, stderr)
}

// runSwitch sends a switch, rollback (or any admin POST answered with a message) and
// prints the daemon's one-line report. It waits as long as the daemon needs (health
// checks, then the drain period); Ctrl-C stops waiting but not the switch.
func runSwitch(verb, path string, req map[string]any, sf *socketFlags, stdout, stderr io.Writer) int {
	socket, err := sf.resolve()
	if err != nil {
		fmt.Fprintf(stderr, "edge %s: %v\n", verb, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var res struct {
		proxy.SwitchResult
		Instances []cluster.InstanceSwitch `json:"instances"` // a fleet-wide switch
	}
	start := time.Now()
	if err := newAdminClient(socket).call(ctx, "POST", path, req, &res); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "edge %s: stopped waiting after %s; edge finishes the %s on its own (see 'edge status')\n", verb, time.Since(start).Round(time.Millisecond), verb)
			return 1
		}
		fmt.Fprintf(stderr, "edge %s: %v\n", verb, err)
		return 1
	}
	fmt.Fprintln(stdout, res.Message)
	for _, is := range res.Instances {
		fmt.Fprintf(stdout, "  %s: %s\n", is.Instance, is.Message)
	}
	return 0
}

// parseInterspersed parses flags that may come before or after positional
// arguments ("edge switch green --app web"), returning the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, int, bool) {
	var pos []string
	for {
		if code, done := parseFlags(fs, args, stderr); done {
			return nil, code, true
		}
		if fs.NArg() == 0 {
			return pos, 0, false
		}
		rest := fs.Args()
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
