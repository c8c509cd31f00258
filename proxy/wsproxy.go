package proxy

import (
	"io"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
)

// wsGrace is how long a closing WebSocket may take to finish the frame in progress
// and exchange close frames before its connections are closed.
const wsGrace = 2 * time.Second

// wsProxy relays one proxied WebSocket. It tracks frame boundaries in both
// directions so that going away (drain deadline, shutdown) can send each side a
// close frame with status 1001 between two frames.
type wsProxy struct {
	slot *slot
	up   net.Conn
	upR  io.Reader // buffered reader of up (may hold bytes read with the handshake)
	head []byte    // the upstream's 101 response, sent to the client verbatim
	log  *zap.Logger

	mu      sync.Mutex
	client  net.Conn
	away    string // reason once going away was asked for
	toCli   wsDir
	toUp    wsDir
	done    chan struct{}
	endOnce sync.Once
}

// wsDir is one direction of the relay: the writer and the frame position in it.
type wsDir struct {
	mu      sync.Mutex
	w       net.Conn
	t       frameTracker
	pending []byte // close frame to send at the next frame boundary
	stopped bool   // the close frame went out; later bytes are dropped
}

// write relays p, or the part of it up to the next boundary plus the pending close
// frame once one is waiting.
func (d *wsDir) write(p []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return nil
	}
	if d.pending == nil {
		d.t.feed(p)
		_, err := d.w.Write(p)
		return err
	}
	for len(p) > 0 && !d.t.atBoundary() {
		n, ended := d.t.next(p)
		if _, err := d.w.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
		if ended {
			break
		}
	}
	if d.t.atBoundary() {
		return d.sendPendingLocked()
	}
	return nil
}

func (d *wsDir) sendPendingLocked() error {
	d.stopped = true
	_ = d.w.SetWriteDeadline(time.Now().Add(wsGrace))
	_, err := d.w.Write(d.pending)
	return err
}

// requestClose queues a close frame, sending it now if the stream is between frames.
func (d *wsDir) requestClose(frame []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped || d.pending != nil {
		return
	}
	d.pending = frame
	if d.t.atBoundary() {
		_ = d.sendPendingLocked()
	}
}

// run is the hijack handler: it owns the client connection until both directions end.
func (p *wsProxy) run(client net.Conn) {
	// The server keeps hijacked connections open (KeepHijackedConns, so the chat can
	// take its sockets over); closing the client is ours on every path.
	defer client.Close()
	defer p.finish()
	if _, err := client.Write(p.head); err != nil {
		return
	}
	p.mu.Lock()
	p.client = client
	p.toCli.w = client
	p.toUp.w = p.up
	away := p.away
	p.mu.Unlock()
	if away != "" { // went away before the hijack; the upstream side is closed
		return
	}
	logWS(p.log, "websocket opened", p)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.pump(p.upR, &p.toCli)
	}()
	p.pump(client, &p.toUp)
	wg.Wait()
}

// pump copies src into d until either side fails; then it closes both connections,
// which ends the other direction too.
func (p *wsProxy) pump(src io.Reader, d *wsDir) {
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if werr := d.write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	p.closeConns()
}

func (p *wsProxy) closeConns() {
	p.mu.Lock()
	c := p.client
	p.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
	_ = p.up.Close()
}

func (p *wsProxy) finish() {
	p.closeConns()
	p.slot.ws.remove(p)
	p.endOnce.Do(func() { close(p.done) })
	logWS(p.log, "websocket closed", p)
}

// goAway sends both sides a 1001 close frame at their next frame boundary and
// closes the connections after wsGrace at the latest. Before the hijack handler
// ran (it may never run if the client vanished) it ends the upstream side at once.
func (p *wsProxy) goAway(reason string) {
	p.mu.Lock()
	if p.away != "" {
		p.mu.Unlock()
		return
	}
	p.away = reason
	started := p.client != nil
	p.mu.Unlock()
	if started {
		p.sendClose(reason)
	} else {
		p.finish()
	}
}

func (p *wsProxy) sendClose(reason string) {
	p.toCli.requestClose(closeFrame(closeGoingAway, reason, false))
	p.toUp.requestClose(closeFrame(closeGoingAway, reason, true))
	deadline := time.Now().Add(wsGrace)
	p.mu.Lock()
	c := p.client
	p.mu.Unlock()
	_ = c.SetDeadline(deadline)
	_ = p.up.SetDeadline(deadline)
}

// goAwayAll closes every WebSocket in the set and waits (until deadline) for them
// to end. It returns how many it closed.
func (w *wsSet) goAwayAll(reason string, deadline time.Time) int {
	list := w.list()
	for _, p := range list {
		p.goAway(reason)
	}
	for _, p := range list {
		t := time.NewTimer(max(time.Until(deadline), 0))
		select {
		case <-p.done:
		case <-t.C:
		}
		t.Stop()
	}
	return len(list)
}
