package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/edge-server/edge/proxy"
	edgetls "github.com/edge-server/edge/tls"
)

func init() { register("status", "show apps, colors, health and in-flight requests", cmdStatus) }

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", "status [--json] [--socket PATH | --config FILE]", stdout)
	asJSON := fs.Bool("json", false, "print the daemon's JSON answer")
	sf := addSocketFlags(fs)
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	if code, done := noExtraArgs(fs, stderr); done {
		return code
	}
	socket, err := sf.resolve()
	if err != nil {
		fmt.Fprintf(stderr, "edge status: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	var raw json.RawMessage
	if err := newAdminClient(socket).call(ctx, "GET", "/status", nil, &raw); err != nil {
		fmt.Fprintf(stderr, "edge status: %v\n", err)
		return 1
	}
	if *asJSON {
		fmt.Fprintf(stdout, "%s\n", strings.TrimSpace(string(raw)))
		return 0
	}
	var st struct {
		proxy.Status
		Certificates []edgetls.CertStatus `json:"certificates"`
		Instances    []fleetInstance      `json:"instances"`
		Fleet        *fleetState          `json:"fleet"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		fmt.Fprintf(stderr, "edge status: edge's answer is not the expected JSON: %v\n", err)
		return 1
	}
	printStatus(stdout, st.Status)
	printCertificates(stdout, st.Certificates)
	printFleet(stdout, st.Instances, st.Fleet)
	return 0
}

// printCertificates writes one line per managed name:
//
//	certificates:
//	  chat.example.com  valid  issuer R11, expires 2027-02-19 (89 days)
//	  www.example.com   failed (acme: rate limited …)
func printCertificates(w io.Writer, certs []edgetls.CertStatus) {
	if len(certs) == 0 {
		return
	}
	fmt.Fprintln(w, "\ncertificates:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range certs {
		line := fmt.Sprintf("  %s\t%s", c.Name, c.State)
		if !c.NotAfter.IsZero() {
			line += fmt.Sprintf("\tissuer %s, expires %s (%s)", c.Issuer, c.NotAfter.Format("2006-01-02"), plural(c.DaysLeft, "day"))
		}
		if c.Source != "" {
			line += "\t" + c.Source
		}
		if c.Error != "" {
			line += "\t(" + c.Error + ")"
		}
		fmt.Fprintln(tw, line)
	}
	_ = tw.Flush()
}

// printStatus writes one block per app:
//
//	web: live green, previous blue
//	  → green  127.0.0.1:4000  healthy    3 in flight  1 websocket
//	    blue   127.0.0.1:3000  unhealthy  0 in flight  0 websockets  (connection refused)
func printStatus(w io.Writer, st proxy.Status) {
	if len(st.Apps) == 0 {
		fmt.Fprintln(w, "no apps are configured")
		return
	}
	for i, a := range st.Apps {
		if i > 0 {
			fmt.Fprintln(w)
		}
		prev := a.Previous
		if prev == "" {
			prev = "none yet"
		}
		fmt.Fprintf(w, "%s: live %s, previous %s%s\n", a.Name, a.Active, prev, trafficNote(a))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range []struct {
			name string
			s    proxy.SlotStatus
		}{{"blue", a.Slots.Blue}, {"green", a.Slots.Green}} {
			mark := " "
			if c.name == a.Active {
				mark = "→"
			}
			if len(c.s.Replicas) > 1 {
				health := fmt.Sprintf("%d of %d healthy", c.s.HealthyReplicas, len(c.s.Replicas))
				fmt.Fprintf(tw, "  %s %s\t%s\t%s\t%d in flight\t%s\n", mark, c.name, plural(len(c.s.Replicas), "replica"), health, c.s.InFlight, plural(c.s.WebSockets, "websocket"))
				for _, r := range c.s.Replicas {
					fmt.Fprintln(tw, addrLine("     ", r.Addr, r.Checked, r.Healthy, r.InFlight, r.WebSockets, r.LastError))
				}
				continue
			}
			fmt.Fprintln(tw, addrLine(fmt.Sprintf("  %s %s", mark, c.name), c.s.Addr, c.s.Checked, c.s.Healthy, c.s.InFlight, c.s.WebSockets, c.s.LastError))
		}
		_ = tw.Flush()
	}
}

// addrLine is one address: its health, load and last error.
func addrLine(lead, addr string, checked, healthy bool, inFlight int64, ws int, lastErr string) string {
	health := "healthy"
	switch {
	case !checked:
		health = "not checked yet"
	case !healthy:
		health = "unhealthy"
	}
	line := fmt.Sprintf("%s\t%s\t%s\t%d in flight\t%s", lead, addr, health, inFlight, plural(ws, "websocket"))
	if !healthy && lastErr != "" {
		line += "\t(" + lastErr + ")"
	}
	return line
}

// trafficNote says what else than the live color decides an app's traffic.
func trafficNote(a proxy.AppStatus) string {
	note := ""
	if a.Weight > 0 {
		other := "green"
		if a.Active == "green" {
			other = "blue"
		}
		note += fmt.Sprintf("; canary: %d%% of visitors on %s", a.Weight, other)
	}
	if a.Paused {
		note += fmt.Sprintf("; PAUSED (%d held, each up to %s)", a.Held, a.MaxWait)
	}
	if a.Maintenance {
		note += fmt.Sprintf("; MAINTENANCE (%q)", a.Message)
	}
	return note
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
