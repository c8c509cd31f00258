package chat_test

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// pgProxy is a TCP proxy between hubs and Postgres that injects the faults a network and
// a dying host produce. It reads the server's answers only to find two moments:
//   - the CommandComplete of a COMMIT: cutCommit drops that answer and closes both sides,
//     so the commit happened but the hub cannot know (the outcome-unknown case);
//   - the CommandComplete of a COPY: cutCopies closes both sides there, so the rows were
//     sent and stored but the transaction never commits (Postgres rolls it back);
//   - the CommandComplete of a BEGIN: the writer's first round trip (BEGIN, the advisory
//     lock, ...) has been executed, so the session holds the writer lock. freezeTx stops
//     forwarding in both directions and never closes the Postgres side (a host that froze,
//     then died without a FIN).
type pgProxy struct {
	t      testing.TB
	ln     net.Listener
	target string

	cutCommits atomic.Int32 // armed: cut this many connections before a COMMIT's answer
	cutCopies  atomic.Int32 // armed: cut this many connections after a COPY, before COMMIT
	freezeTxs  atomic.Int32 // armed: freeze this many connections right after a BEGIN
	cut        atomic.Int32 // COMMIT answers dropped so far
	copiesCut  atomic.Int32 // COPY answers dropped so far
	frozen     atomic.Int32 // connections frozen so far

	mu     sync.Mutex
	conns  map[*proxyConn]struct{}
	closed bool
}

type proxyConn struct {
	p              *pgProxy
	client, server net.Conn
	frozen         atomic.Bool
	once           sync.Once
}

// Postgres message tags as they appear on the wire: 'C', int32 length, tag, NUL.
var (
	commitComplete = []byte("C\x00\x00\x00\x0bCOMMIT\x00")
	beginComplete  = []byte("C\x00\x00\x00\x0aBEGIN\x00")
)

func startPGProxy(t testing.TB, target string) *pgProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{t: t, ln: ln, target: target, conns: map[*proxyConn]struct{}{}}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *pgProxy) addr() string { return p.ln.Addr().String() }

func (p *pgProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		pc := &proxyConn{p: p, client: c, server: s}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			_ = s.Close()
			return
		}
		p.conns[pc] = struct{}{}
		p.mu.Unlock()
		go pc.pump(s, c, true)
		go pc.pump(c, s, false)
	}
}

// cutAll resets every connection that is not frozen (a network blip).
func (p *pgProxy) cutAll() {
	p.mu.Lock()
	var live []*proxyConn
	for pc := range p.conns {
		if !pc.frozen.Load() {
			live = append(live, pc)
		}
	}
	p.mu.Unlock()
	for _, pc := range live {
		pc.closeBoth()
	}
}

func (p *pgProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = map[*proxyConn]struct{}{}
	p.mu.Unlock()
	for pc := range conns {
		pc.closeBoth()
	}
}

func (pc *proxyConn) closeBoth() {
	pc.once.Do(func() {
		if tc, ok := pc.client.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = pc.client.Close()
		_ = pc.server.Close()
		pc.p.mu.Lock()
		delete(pc.p.conns, pc)
		pc.p.mu.Unlock()
	})
}

// take decrements an armed counter if it is positive.
func take(n *atomic.Int32) bool {
	for {
		v := n.Load()
		if v <= 0 {
			return false
		}
		if n.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

// isCopyComplete finds a CommandComplete "COPY n" ('C', int32 length, tag).
func isCopyComplete(scan []byte) bool {
	for i := 0; ; {
		j := bytes.Index(scan[i:], []byte("COPY "))
		if j < 0 {
			return false
		}
		if k := i + j; k >= 5 && scan[k-5] == 'C' && scan[k-4] == 0 && scan[k-3] == 0 {
			return true
		}
		i += j + 1
	}
}

// pump copies src to dst. fromServer marks the direction whose bytes are scanned.
func (pc *proxyConn) pump(src, dst net.Conn, fromServer bool) {
	buf := make([]byte, 32<<10)
	var tail []byte // the end of the previous chunk, for tags split across reads
	for {
		n, err := src.Read(buf)
		if pc.frozen.Load() {
			// Frozen: swallow everything and keep the Postgres socket open (no FIN)
			// until the test ends, whatever the hub does with its side.
			if err != nil {
				if fromServer {
					pc.closeBoth() // Postgres ended the session itself: fine to tidy up
				}
				return
			}
			continue
		}
		if n > 0 {
			chunk := buf[:n]
			if fromServer {
				scan := append(tail, chunk...)
				if bytes.Contains(scan, beginComplete) && take(&pc.p.freezeTxs) {
					pc.frozen.Store(true)
					pc.p.frozen.Add(1)
					continue
				}
				if isCopyComplete(scan) && take(&pc.p.cutCopies) {
					pc.p.copiesCut.Add(1)
					pc.closeBoth()
					return
				}
				if bytes.Contains(scan, commitComplete) && take(&pc.p.cutCommits) {
					pc.p.cut.Add(1)
					pc.closeBoth()
					return
				}
				tail = append(tail[:0], scan[max(0, len(scan)-16):]...)
			}
			if _, werr := dst.Write(chunk); werr != nil {
				err = werr
			}
		}
		if err != nil {
			if pc.frozen.Load() && !fromServer {
				return // the hub gave up on a frozen connection: Postgres must not hear of it
			}
			pc.closeBoth()
			return
		}
	}
}
