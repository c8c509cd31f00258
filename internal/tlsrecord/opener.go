package tlsrecord

import (
	"runtime"
	"sync"
)

// Records are opened (authenticated and decrypted) on a few long-lived opener
// goroutines rather than on the reader's: the AEAD's frames would grow every reader's
// stack from 2 to 4 KiB, and the runtime never shrinks it back while the reader parks
// in a socket read (see Conn.Read). The hand-off costs two goroutine switches per
// record; the openers (GOMAXPROCS of them, started with the first record) live as long
// as the process.

type openJob struct {
	d         *direction
	hdr, body []byte
	typ       byte
	content   []byte
	err       error
	done      chan struct{}
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
				j.typ, j.content, j.err = j.d.open(j.hdr, j.body)
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
