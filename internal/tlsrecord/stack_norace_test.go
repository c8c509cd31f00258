//go:build !race

// The race detector's instrumentation deepens every frame, so the stack property below
// only holds, and is only checked, without it: `make test` runs this file in a second,
// race-free pass (Makefile, test-go).

package tlsrecord

import (
	"bytes"
	"io"
	"testing"
	"unsafe"
)

// stackAddr is the address of a local of its caller's callee: it changes when the
// goroutine's stack was moved (grown) in between.
//
//go:noinline
func stackAddr() uintptr {
	var x byte
	return uintptr(unsafe.Pointer(&x))
}

// TestWriteKeepsWriterStack: a Write from a fresh goroutine (the chat starts one per
// delivery on a TLS connection) does not grow its 2 KiB stack. Sealing on the writer's
// stack made every such delivery copy the stack to 4 KiB (20% of edge's CPU in a
// 10,000-member fan-out); sealOffStack runs it elsewhere.
func TestWriteKeepsWriterStack(t *testing.T) {
	p := newPair(t, 0)
	c := p.detach(t)
	go func() { _, _ = io.Copy(io.Discard, p.client) }()
	msg := bytes.Repeat([]byte("x"), 300)
	if _, err := c.Write(msg); err != nil { // starts the workers, fills the buffer pool
		t.Fatal(err)
	}
	for i := range 20 {
		moved := make(chan bool)
		go func() {
			before := stackAddr()
			if _, err := c.Write(msg); err != nil {
				t.Error(err)
			}
			moved <- stackAddr() != before
		}()
		if <-moved {
			t.Fatalf("write %d moved the writer goroutine's stack (it grew)", i)
		}
	}
}

// TestTryWriteAllocatesNothing: a direct write is made once per member of a fan-out, so
// sealing and writing a frame must not allocate (the record buffers are pooled and the
// raw write callback is bound once).
func TestTryWriteAllocatesNothing(t *testing.T) {
	p := newPair(t, 0)
	c := p.detach(t)
	go func() { _, _ = io.Copy(io.Discard, p.client) }()
	frame := [][]byte{bytes.Repeat([]byte{'m'}, 200)}
	c.TryWrite(frame)
	if n := testing.AllocsPerRun(1000, func() {
		if ok, _ := c.TryWrite(frame); !ok {
			_ = c.Flush()
		}
	}); n != 0 {
		t.Fatalf("%v allocations per TryWrite", n)
	}
}
