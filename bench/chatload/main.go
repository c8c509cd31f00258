// Command chatload is the load generator for edge's WebSocket chat (DESIGN.md protocol).
//
// It opens N connections spread over source addresses 127.0.0.2–.9 and several worker
// processes (a process may hold at most 20,000 open files), joins them to M rooms, lets
// a subset send at a total rate R, and reports delivered messages/s, end-to-end latency
// (the send time travels in the message content), durable messages/s (acks, which edge
// sends only after the row is committed) and edge's RSS per connection (VmRSS of -edge-pid
// before and after connecting). Next to the end-to-end latency (when the client read each
// frame) it reports the arrival latency (the kernel's receive time of the frame, stamp_linux.go).
//
//	chatload -url http://127.0.0.1:8080/chat/ -conns 10000 -rooms 1 -rate 10 -edge-pid PID
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	if js := os.Getenv(workerEnv); js != "" {
		workerMain(js)
		return
	}
	var cfg Config
	var sources, jsonOut string
	var procs, edgePID int
	var settle time.Duration
	var inproc bool
	flag.StringVar(&cfg.URL, "url", "", "chat mount URL, e.g. http://127.0.0.1:8080/chat/ (required)")
	flag.StringVar(&cfg.Origin, "origin", "", "Origin header (default: scheme://host of -url)")
	flag.IntVar(&cfg.Conns, "conns", 1000, "WebSocket connections in total")
	flag.IntVar(&cfg.Rooms, "rooms", 10, "rooms (connection g joins room g mod rooms)")
	flag.IntVar(&cfg.Senders, "senders", 0, "sending connections (default max(rooms, rate/10))")
	flag.Float64Var(&cfg.Rate, "rate", 100, "messages/s sent in total")
	flag.DurationVar(&cfg.Duration, "duration", 10*time.Second, "send phase length")
	flag.DurationVar(&cfg.Drain, "drain", 2*time.Second, "time receivers keep counting after the last send")
	flag.IntVar(&cfg.PerProc, "per-proc", 10000, "connections per worker process at most")
	flag.IntVar(&procs, "procs", 0, "worker processes (default: conns / per-proc, rounded up)")
	flag.StringVar(&sources, "sources", "", "comma-separated source addresses (default 127.0.0.2,…,127.0.0.9)")
	flag.Float64Var(&cfg.ConnectRate, "connect-rate", 2000, "new connections/s per worker")
	flag.IntVar(&edgePID, "edge-pid", 0, "pid of edge, to report its RSS per connection (0: skip)")
	flag.DurationVar(&settle, "settle", 2*time.Second, "wait after connecting before reading edge's RSS")
	flag.BoolVar(&inproc, "inproc", false, "run workers as goroutines in this process (small runs)")
	flag.StringVar(&jsonOut, "json", "", "also write the report as JSON to this file")
	flag.Parse()

	if sources != "" {
		cfg.Sources = strings.Split(sources, ",")
	}
	if err := cfg.setDefaults(); err != nil {
		fail(err)
	}
	start := startProcess
	if inproc {
		start = func(c Config) (*handle, error) { return startInProcess(c), nil }
	}
	rep, err := coordinate(cfg, procs, edgePID, settle, start, os.Stderr)
	if err != nil {
		fail(err)
	}
	rep.print(os.Stdout)
	if jsonOut != "" {
		data, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(jsonOut, append(data, '\n'), 0o644); err != nil {
			fail(fmt.Errorf("writing %s: %w", jsonOut, err))
		}
	}
}

// workerMain is a child process started by startProcess: config from the environment,
// commands on stdin, events on stdout.
func workerMain(js string) {
	var wc Config
	if err := json.Unmarshal([]byte(js), &wc); err != nil {
		fail(fmt.Errorf("worker config: %w", err))
	}
	if err := runWorker(wc, os.Stdin, os.Stdout); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "chatload:", err)
	os.Exit(1)
}
