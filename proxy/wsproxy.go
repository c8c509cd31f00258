package proxy

import (
	"io"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
)

// wsGrace is the longest a closing WebSocket may take to finish the frame in
// progress and exchange close frames before its connections are closed. A drain takes
// it out of its own period (see closeGrace), never adds it on top.
const wsGrace = 2 * time.Second

// closeGrace is the part of a drain period given to closing WebSockets: at most
// wsGrace, at most a quarter of the period.
func closeGrace(period time.Duration) time.Duration { return min(wsGrace, period/4) }

// wsProxy relays one proxied WebSocket. It tracks frame boundaries in both
// directions so that going away (drain deadline, shutdown) can send each side a
// close frame with status 1001 between two frames.
//
// Every write to either peer has a deadline: writeTimeout per write while the socket
// is open, the going-away deadline once it is closing. A peer that stops reading thus
// holds one goroutine until a deadline, never a lock anyone else waits for.
type wsProxy struct {
	slot         *slot
	up           net.Conn
	upR          io.Reader // buffered reader of up (may hold bytes read with the handshake)
	head         []byte    // the upstream's 101 response, sent to the client verbatim
	log          *zap.Logger
	writeTimeout time.Duration

	mu      sync.Mutex
	client  net.Conn // the raw client connection, never fasthttp's hijack wrapper
	away    string   // reason once going away was asked for
	ended   bool     // finish ran; the connections are closed
	toCli   wsDir
	toUp    wsDir
	done    chan struct{}
	endOnce sync.Once
}

// wsDir is one direction of the relay: the writer and the frame position in it.
type wsDir struct {
	mu      sync.Mutex // held by the relaying writer across one write (bounded by its deadline)
	w       net.Conn
	t       frameTracker
	pending []byte // close frame to send at the next frame boundary
	stopped bool   // the close frame went out; later bytes are dropped

	dl        sync.Mutex // guards the write deadline; never held across I/O
	hard      time.Time  // going-away deadline; zero while open
	timeout   time.Duration
	lastSetAt time.Time
}

// armWrite sets the write deadline for the next write: timeout from now, refreshed
// at most every timeout/8 (a deadline change is not free), or the going-away
// deadline once one is set, which nothing extends.
func (d *wsDir) armWrite() {
	d.dl.Lock()
	defer d.dl.Unlock()
	if !d.hard.IsZero() {
		return
	}
	if now := time.Now(); now.Sub(d.lastSetAt) > d.timeout/8 {
		_ = d.w.SetWriteDeadline(now.Add(d.timeout))
		d.lastSetAt = now
	}
}

// setHard fixes the deadline of every write from now on, including one blocked now.
func (d *wsDir) setHard(t time.Time) {
	d.dl.Lock()
	defer d.dl.Unlock()
	if d.hard.IsZero() || t.Before(d.hard) {
		d.hard = t
	}
	_ = d.w.SetWriteDeadline(d.hard)
}

// write relays p, or the part of it up to the next boundary plus the pending close
// frame once one is waiting.
func (d *wsDir) write(p []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return nil
	}
	d.armWrite()
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
	_, err := d.w.Write(d.pending)
	return err
}

// requestClose queues a close frame, sending it now if the stream is between frames.
// It waits for a write in progress, which its deadline bounds: call it on its own
// goroutine.
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
func (p *wsProxy) run(hijacked net.Conn) {
	// On plain HTTP fasthttp's wrapper ignores Close (fasthttp closes the socket after
	// this handler returns), so closing, deadlines and writes go to the raw
	// connection; reads stay on the wrapper, whose buffer may hold the client's first
	// frame.
	client := rawConn(hijacked)
	defer client.Close()
	defer p.finish()
	p.mu.Lock()
	p.client = client
	p.toCli.w, p.toCli.timeout = client, p.writeTimeout
	p.toUp.w, p.toUp.timeout = p.up, p.writeTimeout
	away := p.away
	p.mu.Unlock()
	if away != "" { // went away before the hijack; the upstream side is closed
		return
	}
	if err := p.toCli.write(p.head); err != nil {
		return
	}
	logWS(p.log, "websocket opened", p)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.pump(p.upR, &p.toCli)
	}()
	p.pump(hijacked, &p.toUp)
	wg.Wait()
}

// rawConn unwraps fasthttp's hijacked connection.
func rawConn(c net.Conn) net.Conn {
	if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
		return u.UnsafeConn()
	}
	return c
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
	p.mu.Lock()
	p.ended = true
	p.mu.Unlock()
	p.slot.ws.remove(p)
	p.endOnce.Do(func() { close(p.done) })
	logWS(p.log, "websocket closed", p)
}

// markAway records reason as why the socket goes away. newly is false when it was
// already going away or has ended; started tells whether the hijack handler runs.
func (p *wsProxy) markAway(reason string) (newly, started bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.away != "" || p.ended {
		return false, false
	}
	p.away = reason
	return true, p.client != nil
}

// goAway sends both sides a 1001 close frame at their next frame boundary and
// closes the connections at deadline at the latest. It does not block: a writer
// stuck on a peer that stopped reading is bounded by deadline too. Before the
// hijack handler ran (it may never run if the client vanished) it ends the upstream
// side at once. It reports whether the socket was newly asked to go away.
func (p *wsProxy) goAway(reason string, deadline time.Time) bool {
	newly, started := p.markAway(reason)
	if !newly {
		return false
	}
	if !started {
		p.finish()
		return true
	}
	p.toCli.setHard(deadline)
	p.toUp.setHard(deadline)
	_ = p.client.SetReadDeadline(deadline)
	_ = p.up.SetReadDeadline(deadline)
	go p.toCli.requestClose(closeFrame(closeGoingAway, reason, false))
	go p.toUp.requestClose(closeFrame(closeGoingAway, reason, true))
	return true
}

// goAwayAll asks every WebSocket in the set to go away by deadline, without waiting.
// It returns how many it newly asked.
func (w *wsSet) goAwayAll(reason string, deadline time.Time) int {
	n := 0
	for _, p := range w.list() {
		if p.goAway(reason, deadline) {
			n++
		}
	}
	return n
}

// closeAll closes every WebSocket still in the set at once, whatever its peers do.
// It returns how many of them had not been asked to go away before.
func (w *wsSet) closeAll(reason string) int {
	n := 0
	for _, p := range w.list() {
		if newly, _ := p.markAway(reason); newly {
			n++
		}
		p.closeConns()
	}
	return n
}

// waitEmpty waits until the set is empty or deadline passes.
func (w *wsSet) waitEmpty(deadline time.Time) bool {
	for _, p := range w.list() {
		t := time.NewTimer(max(time.Until(deadline), 0))
		select {
		case <-p.done:
		case <-t.C:
		}
		t.Stop()
	}
	return w.len() == 0
}
