package tlsrecord

import (
	"runtime"
	"sync"
)

// Records are opened (authenticated and decrypted) and sealed on a few long-lived
// goroutines rather than on the caller's: the AEAD's frames need more than 1.5 KiB of
// stack. On a reader that would grow every reader's stack from 2 to 4 KiB, and the
// runtime never shrinks it back while the reader parks in a socket read (see
// Conn.Read). On a writer it costs a stack copy each time: the chat starts a writer
// goroutine per delivery on a TLS connection, and copying its stack to 4 KiB was 20%
// of edge's CPU in a 10,000-member fan-out (docs/benchmarks.md). The hand-off costs two
// goroutine switches per record; the workers (GOMAXPROCS of them, at least 2, started
// with the first record) live as long as the process.

type openJob struct {
	d         *direction
	hdr, body []byte
	typ       byte
	content   []byte
	err       error
	done      chan struct{}

	seal *Conn  // set for a seal job: run seal.sealLocked(out, data)
	out  []byte // seal: where the record goes; then the record
	data []byte // seal: the plaintext
}

var (
	openJobs    = sync.Pool{New: func() any { return &openJob{done: make(chan struct{}, 1)} }}
	openQueue   chan *openJob
	openersOnce sync.Once
)

func startOpeners() {
	openQueue = make(chan *openJob)
	for range max(2, runtime.GOMAXPROCS(0)) {
		go func() {
			for j := range openQueue {
				if j.seal != nil {
					j.out, j.err = j.seal.sealLocked(j.out, j.data)
				} else {
					j.typ, j.content, j.err = j.d.open(j.hdr, j.body)
				}
				j.done <- struct{}{}
			}
		}()
	}
}

// openOffStack is d.open run on an opener goroutine.
func openOffStack(d *direction, hdr, body []byte) (byte, []byte, error) {
	openersOnce.Do(startOpeners)
	j := openJobs.Get().(*openJob)
	j.d, j.hdr, j.body = d, hdr, body
	openQueue <- j
	<-j.done
	typ, content, err := j.typ, j.content, j.err
	*j = openJob{done: j.done}
	openJobs.Put(j)
	return typ, content, err
}

// sealOffStack is c.sealLocked run on a worker goroutine; the caller holds c.wmu.
func sealOffStack(c *Conn, out, data []byte) ([]byte, error) {
	openersOnce.Do(startOpeners)
	j := openJobs.Get().(*openJob)
	j.seal, j.out, j.data = c, out, data
	openQueue <- j
	<-j.done
	rec, err := j.out, j.err
	*j = openJob{done: j.done}
	openJobs.Put(j)
	return rec, err
}
