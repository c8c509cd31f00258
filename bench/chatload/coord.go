package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// handle is the coordinator's end of one worker: commands in, events out.
type handle struct {
	in   io.WriteCloser
	out  *bufio.Scanner
	wait func() error
}

// workerEnv carries a worker's config (JSON) to a child process of this binary.
const workerEnv = "CHATLOAD_WORKER"

// startProcess runs a worker as a child process of this binary.
func startProcess(cfg Config) (*handle, error) {
	js, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), workerEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting worker %d: %w", cfg.Worker, err)
	}
	return &handle{in: in, out: scanner(out), wait: cmd.Wait}, nil
}

// startInProcess runs a worker as a goroutine (tests, small runs).
func startInProcess(cfg Config) *handle {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runWorker(cfg, inR, outW)
		outW.CloseWithError(err)
		_, _ = io.Copy(io.Discard, inR)
		done <- err
	}()
	wait := func() error {
		// Whatever the worker still writes (e.g. after the coordinator gave up early)
		// must not block it: io.Pipe has no buffer.
		go func() { _, _ = io.Copy(io.Discard, outR) }()
		return <-done
	}
	return &handle{in: inW, out: scanner(outR), wait: wait}
}

func scanner(r io.Reader) *bufio.Scanner {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 16<<20)
	return s
}

func (h *handle) next(want string) (Stats, error) {
	if !h.out.Scan() {
		if err := h.out.Err(); err != nil {
			return Stats{}, fmt.Errorf("worker stopped before %q: %w", want, err)
		}
		return Stats{}, fmt.Errorf("worker stopped before %q", want)
	}
	var ev event
	if err := json.Unmarshal(h.out.Bytes(), &ev); err != nil || ev.Event != want {
		return Stats{}, fmt.Errorf("worker sent %q, want a %q event", shorten(h.out.Text()), want)
	}
	return ev.Stats, nil
}

// Report is chatload's result (printed, and written with -json).
type Report struct {
	Config        Config           `json:"config"`
	Workers       int              `json:"workers"`
	Connected     int              `json:"connected"`
	Failed        int              `json:"failed"`
	JoinTimeout   int              `json:"join_timeout"`
	ConnectErrors map[string]int   `json:"connect_errors,omitempty"`
	ConnectSecs   float64          `json:"connect_seconds"`
	SendSecs      float64          `json:"send_seconds"`
	Sent          int64            `json:"sent"`
	SendFailed    int64            `json:"send_failed"`
	Acked         int64            `json:"acked"`
	Delivered     int64            `json:"delivered"`
	Presence      int64            `json:"presence_frames"`
	Closed        int64            `json:"closed_by_server"`
	ErrorFrames   map[string]int64 `json:"error_frames,omitempty"`
	SentPerSec    float64          `json:"sent_per_s"`
	DurablePerSec float64          `json:"durable_per_s"`   // acks/s
	DeliverPerSec float64          `json:"delivered_per_s"` // message frames received/s
	LatP50MS      float64          `json:"latency_p50_ms"`
	LatP99MS      float64          `json:"latency_p99_ms"`
	LatMaxMS      float64          `json:"latency_max_ms"`
	// Arrival latency: the kernel's receive time of the frame in the client's socket
	// (SO_TIMESTAMPNS) − send time. The end-to-end latency above is when the client's
	// goroutine read it; the difference is the client waiting for its own CPU.
	ArrP50MS     float64 `json:"arrival_p50_ms"`
	ArrP99MS     float64 `json:"arrival_p99_ms"`
	ArrMaxMS     float64 `json:"arrival_max_ms"`
	AckP50MS     float64 `json:"ack_p50_ms"`
	AckP99MS     float64 `json:"ack_p99_ms"`
	EdgePID      int     `json:"edge_pid,omitempty"`
	RSSBeforeKiB int64   `json:"edge_rss_before_kib,omitempty"`
	RSSAfterKiB  int64   `json:"edge_rss_connected_kib,omitempty"`
	RSSEndKiB    int64   `json:"edge_rss_end_kib,omitempty"`
	RSSPerConnB  float64 `json:"edge_rss_per_conn_bytes,omitempty"`
	// CPU over the send phase and drain: edge's (from /proc), the load generator's
	// (its workers' own), and edge's per delivered message frame.
	EdgeCPUSecs      float64 `json:"edge_cpu_seconds,omitempty"`
	LoadCPUSecs      float64 `json:"load_cpu_seconds"`
	LoadWaitSecs     float64 `json:"load_runqueue_wait_seconds"`
	EdgeCPUUsPerRecv float64 `json:"edge_cpu_us_per_delivered,omitempty"`
	// EdgeWaitSecs is how long edge's threads were runnable but waited for a CPU
	// (/proc/PID/task/*/schedstat): a starved edge shows here, not in its CPU time.
	EdgeWaitSecs float64 `json:"edge_runqueue_wait_seconds,omitempty"`
}

// coordinate runs the whole benchmark: workers connect, RSS is read, workers send,
// results are added up. start creates one worker.
func coordinate(cfg Config, procs, edgePID int, settle time.Duration, start func(Config) (*handle, error), log io.Writer) (*Report, error) {
	shares := cfg.workers(procs)
	rep := &Report{Config: cfg, Workers: len(shares), EdgePID: edgePID, ConnectErrors: map[string]int{}, ErrorFrames: map[string]int64{}}
	if edgePID > 0 {
		v, err := readRSS(edgePID)
		if err != nil {
			return nil, err
		}
		rep.RSSBeforeKiB = v
	}
	hs := make([]*handle, 0, len(shares))
	defer func() {
		for _, h := range hs {
			_, _ = io.WriteString(h.in, "exit\n")
			_ = h.in.Close()
			_ = h.wait()
		}
	}()
	for _, s := range shares {
		h, err := start(s)
		if err != nil {
			return nil, err
		}
		hs = append(hs, h)
	}
	fmt.Fprintf(log, "chatload: %d connections in %d worker(s) over %d source addresses, %d rooms\n",
		cfg.Conns, len(hs), len(cfg.Sources), cfg.Rooms)
	for _, h := range hs {
		st, err := h.next("connected")
		if err != nil {
			return nil, err
		}
		rep.Connected += st.Connected
		rep.Failed += st.Failed
		rep.JoinTimeout += st.JoinTimeout
		rep.ConnectSecs = max(rep.ConnectSecs, st.ConnectSeconds)
		for k, v := range st.ConnectErrors {
			rep.ConnectErrors[k] += v
		}
	}
	fmt.Fprintf(log, "chatload: %d connected and joined, %d failed, %d join timeouts in %.1f s\n",
		rep.Connected, rep.Failed, rep.JoinTimeout, rep.ConnectSecs)
	if edgePID > 0 {
		time.Sleep(settle)
		v, err := readRSS(edgePID)
		if err != nil {
			return nil, err
		}
		rep.RSSAfterKiB = v
		if rep.Connected > 0 {
			rep.RSSPerConnB = float64(rep.RSSAfterKiB-rep.RSSBeforeKiB) * 1024 / float64(rep.Connected)
		}
	}
	var edgeCPU0, edgeWait0 time.Duration
	if edgePID > 0 {
		edgeCPU0, _ = readCPU(edgePID)
		edgeWait0 = readRunWait(edgePID)
	}
	fmt.Fprintf(log, "chatload: sending %.0f msg/s from %d senders for %s\n", cfg.Rate, cfg.Senders, cfg.Duration)
	for _, h := range hs {
		if _, err := io.WriteString(h.in, "send\n"); err != nil {
			return nil, fmt.Errorf("starting the send phase: %w", err)
		}
	}
	lat, arr, ack := sparseHist{}, sparseHist{}, sparseHist{}
	for _, h := range hs {
		st, err := h.next("done")
		if err != nil {
			return nil, err
		}
		rep.add(st)
		lat.merge(st.Latency)
		arr.merge(st.ArrivalLatency)
		ack.merge(st.AckLatency)
	}
	if edgePID > 0 {
		if v, err := readRSS(edgePID); err == nil {
			rep.RSSEndKiB = v
		}
		if v, err := readCPU(edgePID); err == nil && edgeCPU0 > 0 {
			rep.EdgeCPUSecs = (v - edgeCPU0).Seconds()
			if rep.Delivered > 0 {
				rep.EdgeCPUUsPerRecv = rep.EdgeCPUSecs * 1e6 / float64(rep.Delivered)
			}
		}
		rep.EdgeWaitSecs = (readRunWait(edgePID) - edgeWait0).Seconds()
	}
	if rep.SendSecs > 0 {
		rep.SentPerSec = float64(rep.Sent) / rep.SendSecs
		rep.DurablePerSec = float64(rep.Acked) / rep.SendSecs
		rep.DeliverPerSec = float64(rep.Delivered) / rep.SendSecs
	}
	rep.LatP50MS, rep.LatP99MS = lat.quantile(0.50), lat.quantile(0.99)
	rep.LatMaxMS = lat.max()
	rep.ArrP50MS, rep.ArrP99MS, rep.ArrMaxMS = arr.quantile(0.50), arr.quantile(0.99), arr.max()
	rep.AckP50MS, rep.AckP99MS = ack.quantile(0.50), ack.quantile(0.99)
	return rep, nil
}

func (r *Report) add(st Stats) {
	r.SendSecs = max(r.SendSecs, st.SendSeconds)
	r.LoadCPUSecs += st.CPUSeconds
	r.LoadWaitSecs += st.WaitSeconds
	r.Sent += st.Sent
	r.SendFailed += st.SendFailed
	r.Acked += st.Acked
	r.Delivered += st.Delivered
	r.Presence += st.Presence
	r.Closed += st.Closed
	for k, v := range st.ErrorFrames {
		r.ErrorFrames[k] += v
	}
}

// readRSS returns VmRSS of pid in KiB.
func readRSS(pid int) (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("reading edge's memory: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS line in /proc/%d/status", pid)
}

// readCPU returns the user + system CPU time of pid (all its threads) from /proc.
func readCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("reading edge's CPU time: %w", err)
	}
	// Fields after the command name, which is in parentheses and may contain spaces.
	i := strings.LastIndexByte(string(data), ')')
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

// readRunWait sums the run-queue wait of pid's threads (0 when schedstat is missing).
func readRunWait(pid int) time.Duration {
	dirs, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/schedstat")
	var total int64
	for _, d := range dirs {
		data, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(data)); len(f) >= 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			total += v
		}
	}
	return time.Duration(total)
}

// print writes the human summary.
func (r *Report) print(w io.Writer) {
	fmt.Fprintf(w, "connections   %d joined (%d failed, %d join timeouts) in %.1f s, %d worker process(es)\n",
		r.Connected, r.Failed, r.JoinTimeout, r.ConnectSecs, r.Workers)
	for e, n := range r.ConnectErrors {
		fmt.Fprintf(w, "  connect error ×%d: %s\n", n, e)
	}
	fmt.Fprintf(w, "sent          %d msgs in %.1f s (%.0f/s), %d write failures\n", r.Sent, r.SendSecs, r.SentPerSec, r.SendFailed)
	fmt.Fprintf(w, "durable       %d acks (%.0f msgs/s), ack latency p50 %.2f ms, p99 %.2f ms\n", r.Acked, r.DurablePerSec, r.AckP50MS, r.AckP99MS)
	fmt.Fprintf(w, "delivered     %d message frames (%.0f/s), end-to-end p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", r.Delivered, r.DeliverPerSec, r.LatP50MS, r.LatP99MS, r.LatMaxMS)
	if r.ArrP50MS > 0 {
		fmt.Fprintf(w, "arrived       in the client's socket (kernel receive time) p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", r.ArrP50MS, r.ArrP99MS, r.ArrMaxMS)
	}
	fmt.Fprintf(w, "other         %d presence frames, %d connections closed by the server\n", r.Presence, r.Closed)
	for code, n := range r.ErrorFrames {
		fmt.Fprintf(w, "  error frames %q: %d\n", code, n)
	}
	if r.EdgePID > 0 {
		fmt.Fprintf(w, "edge RSS      %.1f MiB before, %.1f MiB connected, %.1f MiB at the end → %.2f KiB per connection (pid %d)\n",
			float64(r.RSSBeforeKiB)/1024, float64(r.RSSAfterKiB)/1024, float64(r.RSSEndKiB)/1024, r.RSSPerConnB/1024, r.EdgePID)
		fmt.Fprintf(w, "edge CPU      %.2f s over the send phase and drain → %.1f µs per delivered message frame; %.2f s runnable but waiting for a CPU\n", r.EdgeCPUSecs, r.EdgeCPUUsPerRecv, r.EdgeWaitSecs)
	}
	fmt.Fprintf(w, "chatload CPU  %.2f s over the send phase and drain; %.2f s runnable but waiting for a CPU\n", r.LoadCPUSecs, r.LoadWaitSecs)
}
