package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edge-server/edge/cluster"
	edgetls "github.com/edge-server/edge/tls"
)

// fleetInstance is one entry of GET /status "instances" (cluster.Instance with the
// certificate report decoded).
type fleetInstance struct {
	cluster.Instance
	Certificates []edgetls.CertStatus `json:"certificates"`
}

// fleetState is GET /status "fleet".
type fleetState struct {
	Instance       string `json:"instance"`
	DatabaseUp     bool   `json:"database_up"`
	DatabaseError  string `json:"database_error"`
	InstancesError string `json:"instances_error"`
}

// printFleet writes the fleet section:
//
//	fleet (this is edge-1; database up):
//	  edge-1  v1.4.0  seen 0.4s ago  web=green (blue ok, green ok)  certificates 1 valid  chat 812
func printFleet(w io.Writer, ins []fleetInstance, f *fleetState) {
	if f == nil {
		return
	}
	db := "database up"
	if !f.DatabaseUp {
		db = "DATABASE DOWN: " + f.DatabaseError + "; switches are refused, every instance keeps its colors"
	}
	fmt.Fprintf(w, "\nfleet (this is %s; %s):\n", f.Instance, db)
	if f.InstancesError != "" {
		fmt.Fprintf(w, "  instances unknown: %s\n", f.InstancesError)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, in := range ins {
		var apps []string
		for _, a := range in.Apps {
			apps = append(apps, fmt.Sprintf("%s=%s (%s)", a.Name, a.Active, healthWords(a.Healthy)))
		}
		valid := 0
		for _, c := range in.Certificates {
			if c.State == edgetls.StateValid {
				valid++
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\tseen %s ago\t%s\tcertificates %d of %d valid\tchat %d\n", in.Name, in.Version,
			time.Since(in.LastSeen).Round(100*time.Millisecond), strings.Join(apps, " "), valid, len(in.Certificates), in.ChatConnections)
	}
	_ = tw.Flush()
}

func healthWords(h map[string]bool) string {
	word := func(c string) string {
		if h[c] {
			return c + " ok"
		}
		return c + " down"
	}
	return word("blue") + ", " + word("green")
}
