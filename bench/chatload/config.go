package main

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config is one chatload run. Workers get a copy with their own share filled in.
type Config struct {
	// URL is the chat mount, e.g. http://127.0.0.1:8080/chat/ (required).
	URL string `json:"url"`
	// Origin is sent on the WebSocket handshake. Default: scheme://host of URL.
	Origin string `json:"origin"`
	// Conns is the total number of WebSocket connections (room members). Default 1000.
	Conns int `json:"conns"`
	// Rooms the connections are spread over (connection g joins room g mod Rooms). Default 10.
	Rooms int `json:"rooms"`
	// Senders is how many of the connections send. Default max(Rooms, Rate/10), ≤ Conns.
	Senders int `json:"senders"`
	// Rate is the total send rate in messages/s over all senders. Default 100.
	Rate float64 `json:"rate"`
	// Duration of the send phase. Default 10s.
	Duration time.Duration `json:"duration"`
	// Drain is how long receivers keep counting after the last send. Default 2s.
	Drain time.Duration `json:"drain"`
	// PerProc caps connections per worker process (a process may hold at most 20,000
	// open files here). Default 10000.
	PerProc int `json:"per_proc"`
	// Sources are the local addresses connections are spread over. Default 127.0.0.2–.9.
	Sources []string `json:"sources"`
	// ConnectRate caps new connections per second per worker. Default 2000.
	ConnectRate float64 `json:"connect_rate"`
	// RunID makes room names unique per run, so joins replay no old history.
	RunID string `json:"run_id"`

	// Worker-only fields: which global connection indexes this worker owns.
	Worker int `json:"worker"`
	First  int `json:"first"`
	Count  int `json:"count"`
}

func (c *Config) setDefaults() error {
	if c.URL == "" {
		return fmt.Errorf("-url is required (the chat mount, e.g. http://127.0.0.1:8080/chat/)")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-url %q must be http(s)://host:port/mount/", c.URL)
	}
	if !strings.HasSuffix(c.URL, "/") {
		c.URL += "/"
	}
	if c.Origin == "" {
		c.Origin = u.Scheme + "://" + u.Host
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Conns, 1000)
	def(&c.Rooms, 10)
	def(&c.PerProc, 10000)
	if c.Rate <= 0 {
		c.Rate = 100
	}
	if c.Senders <= 0 {
		c.Senders = max(c.Rooms, int(c.Rate/10))
	}
	c.Senders = min(c.Senders, c.Conns)
	c.Rooms = min(c.Rooms, c.Conns)
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Drain <= 0 {
		c.Drain = 2 * time.Second
	}
	if c.ConnectRate <= 0 {
		c.ConnectRate = 2000
	}
	if len(c.Sources) == 0 {
		for i := 2; i <= 9; i++ {
			c.Sources = append(c.Sources, fmt.Sprintf("127.0.0.%d", i))
		}
	}
	for _, s := range c.Sources {
		if ip := net.ParseIP(s); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("source address %q is not a loopback IP; only 127.0.0.0/8 may be used", s)
		}
	}
	if c.RunID == "" {
		c.RunID = fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff)
	}
	return nil
}

// workers splits the connections into per-process shares of at most PerProc, or into
// procs shares when procs > 0.
func (c *Config) workers(procs int) []Config {
	if procs <= 0 {
		procs = (c.Conns + c.PerProc - 1) / c.PerProc
	}
	procs = max(1, min(procs, c.Conns))
	out := make([]Config, procs)
	first := 0
	for i := range out {
		w := *c
		w.Worker = i
		w.First = first
		w.Count = c.Conns / procs
		if i < c.Conns%procs {
			w.Count++
		}
		first += w.Count
		out[i] = w
	}
	return out
}

// Connections are laid out in rows of Rooms columns: connection g is in room g mod
// Rooms. Senders take whole rows spaced evenly, so every room gets the same number of
// senders (±1) and every room the same number of members (±1).
func (c *Config) rowStride() int {
	rows := c.Conns / c.Rooms
	perRoom := (c.Senders + c.Rooms - 1) / c.Rooms
	return max(1, rows/perRoom)
}

// senderNo returns k when global connection g is the k-th sender, else -1.
func (c *Config) senderNo(g int) int {
	row, col := g/c.Rooms, g%c.Rooms
	if row%c.rowStride() != 0 {
		return -1
	}
	k := row/c.rowStride()*c.Rooms + col
	if k >= c.Senders {
		return -1
	}
	return k
}

// roomOf is the room global connection g joins.
func (c *Config) roomOf(g int) string {
	return fmt.Sprintf("bench-%s-%d", c.RunID, g%c.Rooms)
}

// sourceOf is the local address connection g dials from.
func (c *Config) sourceOf(g int) string { return c.Sources[g%len(c.Sources)] }
