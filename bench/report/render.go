package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// ratioText is what the edge/peer column shows for a row.
func ratioText(s Scenario, r Row) string {
	switch {
	case r.Peer == "edge":
		return "—"
	case r.Status != "ok":
		return r.Status
	case r.EdgeRatio != nil:
		return strconv.FormatFloat(*r.EdgeRatio, 'f', 2, 64) + "×"
	}
	for _, e := range s.Rows {
		if e.Peer == "edge" && e.Status != "ok" {
			return "pending (edge " + e.Status + ")"
		}
	}
	return "pending"
}

// cells are a row's columns for the text and Markdown tables.
func cells(s Scenario, r Row) []string {
	if r.Status != "ok" {
		msg := r.Status
		if r.Peer == "edge" && r.Status == "not runnable" {
			msg = "edge: not runnable in this build"
		}
		return []string{r.Peer, msg, "", "", "", "", "", "", "", ratioText(s, r)}
	}
	return []string{
		r.Peer,
		strconv.FormatFloat(r.RPS, 'f', 0, 64),
		fmt.Sprintf("%.0f–%.0f", r.RPSMin, r.RPSMax),
		fmtMS(r.P50MS),
		fmtMS(r.P99MS),
		strconv.FormatInt(r.Errors, 10),
		fmt.Sprintf("%.0f%%", r.CPU*100),
		fmt.Sprintf("%.1f", r.CPUPerReqUS),
		fmt.Sprintf("%.0f%%", r.CoreOther*100),
		ratioText(s, r),
	}
}

var header = []string{"peer", "req/s", "range", "p50", "p99", "errors", "proxy CPU", "CPU µs/req", "others on core", "edge/peer"}

func fmtMS(ms float64) string {
	if ms < 10 {
		return fmt.Sprintf("%.2f ms", ms)
	}
	return fmt.Sprintf("%.1f ms", ms)
}

// writeText prints the human table (one block per scenario) and the reasons rows
// could not be measured.
func writeText(w io.Writer, res Results) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\t"+strings.Join(header, "\t"))
	for _, s := range res.Scenarios {
		for _, r := range s.Rows {
			fmt.Fprintln(tw, s.Name+"\t"+strings.Join(cells(s, r), "\t"))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes(res) {
		fmt.Fprintln(w, "  note:", n)
	}
	return nil
}

// writeMarkdown writes the same tables as Markdown, one per scenario, for docs.
func writeMarkdown(w io.Writer, res Results) error {
	for _, s := range res.Scenarios {
		fmt.Fprintf(w, "#### %s\n\n| %s |\n|%s\n", s.Title, strings.Join(header, " | "),
			strings.Repeat("---|", len(header)))
		for _, r := range s.Rows {
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells(s, r), " | "))
		}
		fmt.Fprintln(w)
	}
	for _, n := range notes(res) {
		fmt.Fprintf(w, "- %s\n", n)
	}
	_, err := fmt.Fprintln(w)
	return err
}

// writeCSV writes one line per scenario and peer with raw numbers.
func writeCSV(w io.Writer, res Results) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"scenario", "peer", "status", "rounds", "rps", "rps_min", "rps_max",
		"p50_ms", "p99_ms", "errors", "proxy_cpu", "cpu_us_per_req", "core_other", "mb_per_s", "rss_kib", "edge_over_peer", "reason"})
	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	for _, s := range res.Scenarios {
		for _, r := range s.Rows {
			ratio := ""
			if r.EdgeRatio != nil {
				ratio = f(*r.EdgeRatio, 2)
			}
			_ = cw.Write([]string{s.Name, r.Peer, r.Status, strconv.Itoa(r.Rounds), f(r.RPS, 0), f(r.RPSMin, 0),
				f(r.RPSMax, 0), f(r.P50MS, 3), f(r.P99MS, 3), strconv.FormatInt(r.Errors, 10), f(r.CPU, 3),
				f(r.CPUPerReqUS, 2), f(r.CoreOther, 3), f(r.MBps, 1), strconv.FormatInt(r.RSSKiB, 10), ratio, r.Reason})
		}
	}
	cw.Flush()
	return cw.Error()
}

// notes lists why rows have no numbers, once per peer and reason, naming the scenarios.
func notes(res Results) []string {
	type key struct{ peer, reason string }
	var order []key
	where := map[key][]string{}
	for _, s := range res.Scenarios {
		for _, r := range s.Rows {
			if r.Reason == "" {
				continue
			}
			k := key{r.Peer, r.Reason}
			if _, ok := where[k]; !ok {
				order = append(order, k)
			}
			where[k] = append(where[k], s.Name)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, fmt.Sprintf("%s (%s): %s", k.peer, strings.Join(where[k], ", "), k.reason))
	}
	return out
}

// machineRows are the machine.txt keys shown in the docs, with their labels.
var machineRows = [][2]string{
	{"cpu_model", "CPU"}, {"cpu_detail", "CPU detail"}, {"nproc", "cores (nproc)"}, {"memory", "memory"}, {"kernel", "kernel"},
	{"os", "OS"}, {"go", "Go"}, {"nginx", "nginx"}, {"haproxy", "HAProxy"}, {"caddy", "Caddy"},
	{"edge", "edge"}, {"wrk", "wrk"}, {"openssl", "OpenSSL"}, {"pinning", "pinning"},
	{"rounds", "rounds"}, {"duration_s", "seconds per round"}, {"warmup_s", "warm-up seconds"},
	{"wrk_connections", "wrk connections"}, {"wrk_threads", "wrk threads"}, {"upstream", "upstream"},
	{"loadavg_start", "load average at start"}, {"loadavg_end", "load average at end"}, {"date", "date (UTC)"},
}

// writeMachine writes the machine description as a Markdown table.
func writeMachine(w io.Writer, m map[string]string) {
	fmt.Fprintln(w, "| | |\n|---|---|")
	for _, r := range machineRows {
		if v, ok := m[r[0]]; ok {
			fmt.Fprintf(w, "| %s | %s |\n", r[1], v)
		}
	}
	for _, k := range []string{"nginx", "haproxy", "caddy", "edge"} {
		if v, ok := m["tls_"+k]; ok {
			fmt.Fprintf(w, "| TLS negotiated by %s | %s |\n", k, v)
		}
	}
}
