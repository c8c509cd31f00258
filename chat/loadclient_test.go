package chat

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// The benchmarks measure the server alone, so their WebSocket clients run in a child
// process: this test binary re-executed with loadClientEnv set. It opens N connections
// from 127.0.0.2–127.0.0.9, prints "READY", and then, in "fanout" mode, reports the
// delivery latency of every message it sees; it exits when its stdin closes.

const loadClientEnv = "EDGE_CHAT_LOADCLIENT"

type loadSpec struct {
	Mode   string `json:"mode"` // "idle" or "fanout"
	URL    string `json:"url"`  // ws://…/ws?token=…
	Conns  int    `json:"conns"`
	Room   string `json:"room"`
	Expect int    `json:"expect"` // fanout: messages each connection must receive
}

func loadClientMain() int {
	var spec loadSpec
	if err := json.Unmarshal([]byte(os.Getenv(loadClientEnv)), &spec); err != nil {
		fmt.Println("ERR bad spec:", err)
		return 2
	}
	conns := make([]*websocket.Conn, 0, spec.Conns)
	var mu sync.Mutex
	var lat []int64
	var got atomic.Int64
	for i := 0; i < spec.Conns; i++ {
		src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%8))}
		d := websocket.Dialer{
			HandshakeTimeout: 30 * time.Second, ReadBufferSize: 512, WriteBufferSize: 256,
			NetDialContext:  (&net.Dialer{LocalAddr: src}).DialContext,
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the benchmark's throwaway certificate
		}
		c, _, err := d.DialContext(context.Background(), spec.URL, nil)
		if err != nil {
			fmt.Printf("ERR dial %d: %v\n", i, err)
			return 1
		}
		conns = append(conns, c)
		if spec.Room != "" {
			if err := c.WriteJSON(map[string]any{"type": "join", "room": spec.Room}); err != nil {
				fmt.Printf("ERR join %d: %v\n", i, err)
				return 1
			}
		}
		if spec.Mode == "fanout" {
			go func() {
				seen := 0
				for seen < spec.Expect {
					_, data, err := c.ReadMessage()
					if err != nil {
						return
					}
					now := time.Now().UnixNano()
					// Cheap parsing: the client process shares the two cores with the server.
					i := bytes.Index(data, []byte(`"content":"t=`))
					if !bytes.HasPrefix(data, []byte(`{"type":"message"`)) || i < 0 {
						continue
					}
					rest := data[i+len(`"content":"t=`):]
					j := bytes.IndexByte(rest, '"')
					if j < 0 {
						continue
					}
					sent, _ := strconv.ParseInt(string(rest[:j]), 10, 64)
					mu.Lock()
					lat = append(lat, now-sent)
					mu.Unlock()
					seen++
					got.Add(1)
				}
			}()
		}
	}
	fmt.Println("READY", len(conns))
	if spec.Mode == "fanout" {
		deadline := time.Now().Add(2 * time.Minute)
		for got.Load() < int64(spec.Expect*spec.Conns) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		q := func(p float64) float64 {
			if len(lat) == 0 {
				return 0
			}
			return float64(lat[int(p*float64(len(lat)-1))]) / 1e6
		}
		fmt.Printf("LAT n=%d p50=%.2f p99=%.2f max=%.2f\n", len(lat), q(0.5), q(0.99), q(1))
		mu.Unlock()
	}
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	for _, c := range conns {
		_ = c.Close()
	}
	return 0
}
