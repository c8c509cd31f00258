package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Stats is what one worker reports; the coordinator adds them up.
type Stats struct {
	Worker         int              `json:"worker"`
	Connected      int              `json:"connected"`
	Failed         int              `json:"failed"`
	JoinTimeout    int              `json:"join_timeout"`
	ConnectErrors  map[string]int   `json:"connect_errors,omitempty"`
	ConnectSeconds float64          `json:"connect_seconds"`
	SendSeconds    float64          `json:"send_seconds"`
	CPUSeconds     float64          `json:"cpu_seconds"`  // this worker's CPU over send phase and drain
	WaitSeconds    float64          `json:"wait_seconds"` // its threads' run-queue wait over the same
	Sent           int64            `json:"sent"`
	SendFailed     int64            `json:"send_failed"`
	Acked          int64            `json:"acked"`
	Delivered      int64            `json:"delivered"`
	Presence       int64            `json:"presence"`
	Other          int64            `json:"other"`
	Closed         int64            `json:"closed"`
	ErrorFrames    map[string]int64 `json:"error_frames,omitempty"`
	Latency        map[int]int64    `json:"latency"`
	ArrivalLatency map[int]int64    `json:"arrival_latency"`
	AckLatency     map[int]int64    `json:"ack_latency"`
}

// event is one line a worker writes to the coordinator.
type event struct {
	Event string `json:"event"` // connected | done
	Stats Stats  `json:"stats"`
}

// worker owns cfg.Count connections starting at global index cfg.First.
type worker struct {
	cfg                                                         Config
	clients                                                     []*client
	lat                                                         hist
	arrLat                                                      hist // kernel arrival − send
	ackLat                                                      hist
	sent, sendFailed, acked, delivered, presence, other, closed atomic.Int64
	mu                                                          sync.Mutex
	errorFrames                                                 map[string]int64
	stopping                                                    atomic.Bool
}

// runWorker connects, reports "connected", waits for "send", sends for cfg.Duration,
// drains, reports "done", then waits for "exit" (or end of input) and closes everything.
func runWorker(cfg Config, in io.Reader, out io.Writer) error {
	w := &worker{cfg: cfg, errorFrames: map[string]int64{}}
	enc := json.NewEncoder(out)
	cmds := bufio.NewScanner(in)
	st := w.connectAll()
	if err := enc.Encode(event{Event: "connected", Stats: st}); err != nil {
		return fmt.Errorf("reporting: %w", err)
	}
	defer w.closeAll()
	if !cmds.Scan() || cmds.Text() != "send" {
		return nil // the coordinator gave up
	}
	cpu0, wait0 := selfCPU(), readRunWait(os.Getpid())
	st.SendSeconds = w.sendPhase().Seconds()
	time.Sleep(cfg.Drain)
	st.CPUSeconds = (selfCPU() - cpu0).Seconds()
	st.WaitSeconds = (readRunWait(os.Getpid()) - wait0).Seconds()
	w.fill(&st)
	if err := enc.Encode(event{Event: "done", Stats: st}); err != nil {
		return fmt.Errorf("reporting: %w", err)
	}
	for cmds.Scan() && cmds.Text() != "exit" {
	}
	return nil
}

func (w *worker) connectAll() Stats {
	st := Stats{Worker: w.cfg.Worker, ConnectErrors: map[string]int{}}
	start := time.Now()
	dialers := map[string]*dialer{}
	for _, s := range w.cfg.Sources {
		dialers[s] = newDialer(&w.cfg, s)
	}
	var mu sync.Mutex
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / w.cfg.ConnectRate)
	next := time.Now()
	for g := w.cfg.First; g < w.cfg.First+w.cfg.Count; g++ {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(interval)
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := dialers[w.cfg.sourceOf(g)].connect(ctx, g)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				st.Failed++
				st.ConnectErrors[shorten(err.Error())]++
				return
			}
			w.clients = append(w.clients, c)
			go w.read(c)
		}()
	}
	wg.Wait()
	deadline := time.After(30 * time.Second)
	for _, c := range w.clients {
		select {
		case <-c.joined:
			st.Connected++
		case <-deadline:
			st.JoinTimeout++
		}
	}
	st.ConnectSeconds = time.Since(start).Seconds()
	return st
}

// read handles one connection's server frames until it closes. The read time is taken
// as soon as a frame is read; the kernel's arrival time (stamp_linux.go) next to it.
func (w *worker) read(c *client) {
	for {
		_, r, err := c.ws.NextReader()
		if err == nil {
			c.buf, err = readFrame(r, c.buf)
		}
		if err != nil {
			if !w.stopping.Load() {
				w.closed.Add(1)
			}
			return
		}
		now := time.Now().UnixNano()
		var f frame
		if parseFrame(c.buf, &f) != nil {
			w.other.Add(1)
			continue
		}
		switch f.Type {
		case "message":
			w.delivered.Add(1)
			if ts, ok := f.sendTime(); ok {
				w.lat.record((now - ts) / 1000)
				if at := c.stamp.arrived(); at > 0 {
					w.arrLat.record((at - ts) / 1000)
				}
			}
		case "ack":
			w.acked.Add(1)
			if ts, ok := stampFromClientID(f.ClientID); ok {
				w.ackLat.record((now - ts) / 1000)
			}
		case "history":
			if f.Room == c.room {
				c.once.Do(func() { close(c.joined) })
			}
		case "presence":
			w.presence.Add(1)
		case "error":
			w.mu.Lock()
			w.errorFrames[f.Code]++
			w.mu.Unlock()
		default:
			w.other.Add(1)
		}
	}
}

// sendPhase sends at this worker's share of the rate, round-robin over its senders.
func (w *worker) sendPhase() time.Duration {
	var senders []*client
	for _, c := range w.clients {
		if c.sender >= 0 {
			senders = append(senders, c)
		}
	}
	sort.Slice(senders, func(i, j int) bool { return senders[i].g < senders[j].g })
	start := time.Now()
	if len(senders) == 0 {
		time.Sleep(w.cfg.Duration)
		return time.Since(start)
	}
	rate := w.cfg.Rate * float64(len(senders)) / float64(w.cfg.Senders)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var due float64
	i := 0
	for now := range tick.C {
		el := now.Sub(start)
		if el >= w.cfg.Duration {
			break
		}
		for ; due < el.Seconds()*rate; due++ {
			c := senders[i%len(senders)]
			i++
			if err := c.send(w.cfg.RunID); err != nil {
				w.sendFailed.Add(1)
				continue
			}
			w.sent.Add(1)
		}
	}
	return time.Since(start)
}

func (w *worker) fill(st *Stats) {
	st.Sent, st.SendFailed, st.Acked = w.sent.Load(), w.sendFailed.Load(), w.acked.Load()
	st.Delivered, st.Presence, st.Other, st.Closed = w.delivered.Load(), w.presence.Load(), w.other.Load(), w.closed.Load()
	w.mu.Lock()
	st.ErrorFrames = map[string]int64{}
	for k, v := range w.errorFrames {
		st.ErrorFrames[k] = v
	}
	w.mu.Unlock()
	st.Latency, st.AckLatency = w.lat.snapshot(), w.ackLat.snapshot()
	st.ArrivalLatency = w.arrLat.snapshot()
}

func (w *worker) closeAll() {
	w.stopping.Store(true)
	for _, c := range w.clients {
		_ = c.ws.Close()
	}
}

// selfCPU is this process's user + system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// shorten keeps error texts usable as map keys in the report.
func shorten(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
