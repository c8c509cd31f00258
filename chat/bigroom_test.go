package chat_test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/chat/chattest"
)

// A big room (over 512 members: written from several goroutines, see room.go) gets
// messages one delivery at a time (each written directly by the broadcast) and in
// bursts (several per delivery, corked). One member stops reading, one disconnects in
// the middle of the run. Every other member must get every message exactly once and in
// id order, and the two must not hold anyone up: the sender waits for each ack, which
// comes only after the delivery of the batch before it is done.
func TestBigRoomFanoutInOrderDespiteStalledAndLeavingMembers(t *testing.T) {
	slow := &slowConsumers{}
	prev := runtime.GOMAXPROCS(2) // the parallel fan-out runs only with more than one P
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	srv := chattest.Start(t, chat.Config{MessageRate: 1e6, MessageBurst: 1e6, MaxConnsPerIP: 10000,
		SessionRate: 1e6, SessionBurst: 1e6, SendQueueFrames: 256, SendQueueBytes: 1 << 20,
		WriteTimeout: time.Minute, PingInterval: time.Hour, Metrics: slow}, nil)
	// 50 steps × 24 side messages of 6 KB: more than the stalled socket's buffers (up to
	// 4 MB) and queue take; the queue bounds leave room for what the sender gets per step.
	const members, bursts, perBurst, singles, sideFlood = 600, 10, 8, 40, 24
	const total = bursts*perBurst + singles
	join := []byte(`{"type":"join","room":"big"}`)
	joinFrame := append([]byte{0x81, 0x80 | byte(len(join)), 0, 0, 0, 0}, join...)
	side := []byte(`{"type":"join","room":"side"}`)
	joinSide := append([]byte{0x81, 0x80 | byte(len(side)), 0, 0, 0, 0}, side...)

	type result struct {
		ids []int64
		err error
	}
	results := make([]result, members)
	var wg, joined sync.WaitGroup
	const leaver, stalledIdx = 7, 11
	for i := range members {
		token, _ := newSession(t, srv, anon(fmt.Sprintf("m%04d", i)))
		c, br := rawConn(t, srv, token)
		if _, err := c.Write(joinFrame); err != nil {
			t.Fatal(err)
		}
		if i == stalledIdx {
			// It is also in a side room that the sender floods with big messages, so its
			// socket fills during the run and later frames queue behind it.
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
			if _, err := c.Write(joinSide); err != nil {
				t.Fatal(err)
			}
			continue // never reads
		}
		wg.Add(1)
		joined.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			inRoom := false
			defer func() {
				if !inRoom {
					joined.Done()
				}
			}()
			_ = c.SetReadDeadline(time.Now().Add(2 * waitLong))
			for len(r.ids) < total {
				typ, payload, err := readServerFrame(br)
				if err != nil {
					r.err = err
					return
				}
				if typ != 0x1 {
					continue
				}
				var f struct {
					Type    string `json:"type"`
					Message struct {
						ID int64 `json:"id"`
					} `json:"message"`
				}
				if err := json.Unmarshal(payload, &f); err != nil {
					r.err = err
					return
				}
				if f.Type == "history" && !inRoom {
					inRoom = true
					joined.Done()
				}
				if f.Type != "message" {
					continue
				}
				r.ids = append(r.ids, f.Message.ID)
				if i == leaver && len(r.ids) == total/2 {
					_ = c.Close() // gone in the middle of the run
					return
				}
			}
		}()
	}
	joined.Wait() // every reading member has its history: the next messages are live
	sender := connect(t, srv, anon("sender"))
	sender.join("big", nil)

	sender.join("side", nil)
	content, flood := strings.Repeat("무", 700), strings.Repeat("무", 2000)
	n := 0
	for b := range bursts + singles {
		k := 1
		if b < bursts {
			k = perBurst // several sends before the first ack: one delivery holds several
		}
		for j := range k {
			sender.say("big", fmt.Sprintf("c%d-%d", b, j), content)
		}
		for j := range sideFlood {
			sender.say("side", fmt.Sprintf("s%d-%d", b, j), flood)
		}
		for acks := 0; acks < k+sideFlood; {
			if f := sender.next(); f.Type == "ack" {
				acks++
			}
		}
		n += k
	}
	wg.Wait()
	for i, r := range results {
		switch {
		case i == stalledIdx:
		case i == leaver:
			if len(r.ids) != total/2 {
				t.Errorf("leaving member got %d messages before it left, want %d", len(r.ids), total/2)
			}
		case r.err != nil || len(r.ids) != total:
			t.Errorf("member %d: %d of %d messages (%v)", i, len(r.ids), n, r.err)
		default:
			for j := 1; j < len(r.ids); j++ {
				if r.ids[j] <= r.ids[j-1] {
					t.Fatalf("member %d: message %d after %d (out of order or twice)", i, r.ids[j], r.ids[j-1])
				}
			}
		}
	}
	// The member that never read was closed as a slow consumer, not waited for; nobody
	// else was.
	if n := slow.n.Load(); n != 1 {
		t.Fatalf("%d slow consumers closed, want 1 (the member that stopped reading)", n)
	}
}

type slowConsumers struct {
	nopMetrics
	n atomic.Int64
}

func (s *slowConsumers) SlowConsumer() { s.n.Add(1) }

type nopMetrics struct{}

func (nopMetrics) Connections(int)                   {}
func (nopMetrics) BatchCommitted(int, time.Duration) {}
func (nopMetrics) SendsFailed(chat.Code, int)        {}

// readServerFrame reads one unmasked server frame.
func readServerFrame(br *bufio.Reader) (opcode byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(br, payload)
	return h[0] & 0x0f, payload, err
}
