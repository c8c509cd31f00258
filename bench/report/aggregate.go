package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// rawLine is one line of raw.jsonl as bench/run.sh writes it: a measured round
// (status "ok"), a failed round, or a row that could not be measured ("n/a",
// "not runnable") with the reason.
type rawLine struct {
	Scenario string   `json:"scenario"`
	Peer     string   `json:"peer"`
	Round    int      `json:"round"`
	Status   string   `json:"status"`
	Reason   string   `json:"reason"`
	CPU      float64  `json:"cpu"`    // share of one core over the wall time of the run
	CPUMS    int64    `json:"cpu_ms"` // proxy CPU time used during the run
	WallMS   int64    `json:"wall_ms"`
	Other    float64  `json:"core_other"`
	RSSKiB   int64    `json:"rss_kib"`
	Wrk      *wrkData `json:"wrk"`
}

// wrkData is what bench/wrk/report.lua prints.
type wrkData struct {
	Requests   int64   `json:"requests"`
	DurationUS int64   `json:"duration_us"`
	Bytes      int64   `json:"bytes"`
	P50US      int64   `json:"p50_us"`
	P90US      int64   `json:"p90_us"`
	P99US      int64   `json:"p99_us"`
	MaxUS      int64   `json:"max_us"`
	MeanUS     float64 `json:"mean_us"`
	StdevUS    float64 `json:"stdev_us"`
	ErrConnect int64   `json:"err_connect"`
	ErrRead    int64   `json:"err_read"`
	ErrWrite   int64   `json:"err_write"`
	ErrStatus  int64   `json:"err_status"`
	ErrTimeout int64   `json:"err_timeout"`
}

// Row is one peer in one scenario after aggregating its rounds (medians).
type Row struct {
	Peer   string  `json:"peer"`
	Status string  `json:"status"` // ok | n/a | not runnable | failed
	Reason string  `json:"reason,omitempty"`
	Rounds int     `json:"rounds"`
	RPS    float64 `json:"rps"`     // median over rounds
	RPSMin float64 `json:"rps_min"` // slowest round
	RPSMax float64 `json:"rps_max"` // fastest round
	P50MS  float64 `json:"p50_ms"`  // median over rounds of wrk's p50
	P99MS  float64 `json:"p99_ms"`  // median over rounds of wrk's p99
	// Errors adds up socket errors (connect, read, write, timeout) and non-2xx/3xx answers.
	Errors int64   `json:"errors"`
	CPU    float64 `json:"proxy_cpu"` // median share of one core the proxy used
	// CPUPerReqUS is the proxy's CPU time per request in µs (median over rounds). It
	// compares proxies even when the load generator, not the proxy, limits requests/s.
	CPUPerReqUS float64 `json:"cpu_us_per_req"`
	// CoreOther is the share of the proxy's core other processes used during the
	// rounds (median): a noise indicator on shared machines; near 0 on a quiet box.
	CoreOther float64 `json:"core_other"`
	MBps      float64 `json:"mb_per_s"` // median response bytes per second, MB (10^6)
	RSSKiB    int64   `json:"rss_kib"`  // proxy RSS after its last round
	// EdgeRatio is edge's RPS / this peer's RPS; nil when either has no number.
	EdgeRatio *float64 `json:"edge_ratio,omitempty"`
}

// Scenario groups the rows of one scenario in the order peers first appeared.
type Scenario struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	Rows  []Row  `json:"rows"`
}

// Results is results.json.
type Results struct {
	Machine   map[string]string `json:"machine"`
	Scenarios []Scenario        `json:"scenarios"`
}

var scenarioTitles = map[string]string{
	"proxy-small": "(1) proxied ~100 B response, keep-alive",
	"proxy-100k":  "(2) proxied 100 KiB response, keep-alive",
	"static-1k":   "(3a) static 1 KiB file",
	"static-100k": "(3b) static 100 KiB file",
	"https-small": "(4) HTTPS proxied ~100 B response, keep-alive",
	"close-small": "(5) new connection per request, proxied ~100 B",
}

// readRaw parses raw.jsonl, failing on the first malformed line with its number.
func readRaw(r io.Reader) ([]rawLine, error) {
	var out []rawLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var l rawLine
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if err := l.check(); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading line %d: %w", n+1, err)
	}
	return out, nil
}

func (l *rawLine) check() error {
	switch {
	case l.Scenario == "" || l.Peer == "":
		return fmt.Errorf("scenario and peer are required")
	case l.Status == "ok" && l.Wrk == nil:
		return fmt.Errorf("status ok without wrk numbers")
	case l.Status == "ok" && (l.Wrk.DurationUS <= 0 || l.Wrk.Requests < 0):
		return fmt.Errorf("wrk duration %d µs and %d requests are not a measurement", l.Wrk.DurationUS, l.Wrk.Requests)
	case l.Status != "ok" && l.Status != "n/a" && l.Status != "not runnable" && l.Status != "failed":
		return fmt.Errorf("unknown status %q", l.Status)
	}
	return nil
}

// aggregate turns raw lines into scenarios (in first-seen order) with median rows.
func aggregate(lines []rawLine) []Scenario {
	type key struct{ sc, peer string }
	var scOrder []string
	peerOrder := map[string][]string{}
	byKey := map[key][]rawLine{}
	for _, l := range lines {
		if _, ok := peerOrder[l.Scenario]; !ok {
			scOrder = append(scOrder, l.Scenario)
			peerOrder[l.Scenario] = nil
		}
		k := key{l.Scenario, l.Peer}
		if _, ok := byKey[k]; !ok {
			peerOrder[l.Scenario] = append(peerOrder[l.Scenario], l.Peer)
		}
		byKey[k] = append(byKey[k], l)
	}
	out := make([]Scenario, 0, len(scOrder))
	for _, sc := range scOrder {
		s := Scenario{Name: sc, Title: scenarioTitles[sc]}
		if s.Title == "" {
			s.Title = sc
		}
		peers := peerOrder[sc]
		sort.SliceStable(peers, func(i, j int) bool { return peerRank(peers[i]) < peerRank(peers[j]) })
		for _, p := range peers {
			s.Rows = append(s.Rows, aggregateRow(p, byKey[key{sc, p}]))
		}
		setRatios(&s)
		out = append(out, s)
	}
	return out
}

// peerRank orders rows: edge first, then the peers in the order the docs use.
func peerRank(p string) int {
	switch p {
	case "edge":
		return 0
	case "nginx":
		return 1
	case "haproxy":
		return 2
	case "caddy":
		return 3
	}
	return 4
}

func aggregateRow(peer string, lines []rawLine) Row {
	r := Row{Peer: peer}
	var rps, p50, p99, cpu, mbps, cpr, other []float64
	var reasons []string
	for _, l := range lines {
		if l.Status != "ok" {
			if l.Reason != "" {
				reasons = append(reasons, l.Reason)
			}
			if r.Status == "" {
				r.Status = l.Status
			}
			continue
		}
		w := l.Wrk
		secs := float64(w.DurationUS) / 1e6
		rps = append(rps, float64(w.Requests)/secs)
		mbps = append(mbps, float64(w.Bytes)/secs/1e6)
		p50 = append(p50, float64(w.P50US)/1000)
		p99 = append(p99, float64(w.P99US)/1000)
		cpu = append(cpu, l.CPU)
		other = append(other, l.Other)
		if w.Requests > 0 {
			cpr = append(cpr, float64(l.CPUMS)*1000/float64(w.Requests))
		}
		r.Errors += w.ErrConnect + w.ErrRead + w.ErrWrite + w.ErrTimeout + w.ErrStatus
		r.RSSKiB = l.RSSKiB
	}
	r.Rounds = len(rps)
	if r.Rounds > 0 {
		// Measured rounds win over a failed one; the failure stays visible in Reason.
		r.Status = "ok"
		r.RPS, r.RPSMin, r.RPSMax = median(rps), minOf(rps), maxOf(rps)
		r.P50MS, r.P99MS, r.CPU, r.MBps = median(p50), median(p99), median(cpu), median(mbps)
		r.CoreOther = median(other)
		if len(cpr) > 0 {
			r.CPUPerReqUS = median(cpr)
		}
	}
	r.Reason = strings.Join(uniq(reasons), "; ")
	return r
}

// setRatios fills EdgeRatio for every non-edge peer when both have numbers.
func setRatios(s *Scenario) {
	var edge *Row
	for i := range s.Rows {
		if s.Rows[i].Peer == "edge" && s.Rows[i].Status == "ok" && s.Rows[i].RPS > 0 {
			edge = &s.Rows[i]
		}
	}
	if edge == nil {
		return
	}
	for i := range s.Rows {
		r := &s.Rows[i]
		if r.Peer != "edge" && r.Status == "ok" && r.RPS > 0 {
			v := math.Round(edge.RPS/r.RPS*100) / 100
			r.EdgeRatio = &v
		}
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func minOf(v []float64) float64 {
	m := v[0]
	for _, x := range v[1:] {
		m = math.Min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := v[0]
	for _, x := range v[1:] {
		m = math.Max(m, x)
	}
	return m
}

func uniq(v []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range v {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
