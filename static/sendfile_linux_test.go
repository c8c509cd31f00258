//go:build linux

package static

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBufferedBytes pins what bufferedBytes relies on: a bufio.Writer's spare capacity
// starts right after the bytes it buffers, which are the tail of what was written.
func TestBufferedBytes(t *testing.T) {
	var sink bytes.Buffer
	bw := bufio.NewWriterSize(&sink, 64)
	if got := bufferedBytes(bw); got != nil {
		t.Fatalf("empty writer: %q", got)
	}
	var written []byte
	chunks := []string{"HTTP/1.1 200 OK\r\n", "Content-Length: 5\r\n\r\n", strings.Repeat("x", 40), "abc", strings.Repeat("y", 47)}
	for _, chunk := range chunks {
		_, _ = bw.WriteString(chunk)
		written = append(written, chunk...)
		got := bufferedBytes(bw)
		if bw.Available() == 0 {
			if got != nil {
				t.Fatalf("full buffer: got %q, want nil", got)
			}
			continue
		}
		if want := written[len(written)-bw.Buffered():]; !bytes.Equal(got, want) {
			t.Fatalf("after %q: bufferedBytes %q, want %q", chunk, got, want)
		}
	}
	if bw.Available() != 0 {
		t.Fatalf("the chunks should end with a full buffer (%d bytes free)", bw.Available())
	}
}

// TestSendFileHeaderPaths sends header and body over a real socket both ways: the header
// sent with MSG_MORE from the buffer, and, when the buffer is full (no view of its
// bytes), corked, flushed and uncorked. The peer must get header then body, exactly.
func TestSendFileHeaderPaths(t *testing.T) {
	body := patterned(100<<10, 9)
	f, mem, err := snapshotFile("test", body)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmapSnapshot(mem); _ = f.Close() })
	for _, tc := range []struct {
		name    string
		bufSize int
	}{{"MSG_MORE", 4096}, {"cork", 32}} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			hdr := []byte(strings.Repeat("H", 32))
			bw := bufio.NewWriterSize(server, tc.bufSize)
			_, _ = bw.Write(hdr)
			op := sendFileOp{src: int(f.Fd()), off: 10, left: int64(len(body) - 20)}
			op.stepFn = op.step
			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(io.LimitReader(client, int64(len(hdr)+len(body)-20)))
				got <- b
			}()
			n, handled, err := sendFile(bw, server.(*net.TCPConn), &op)
			if !handled || err != nil || n != int64(len(body)-20) || bw.Buffered() != 0 {
				t.Fatalf("sendFile: %d bytes, handled %v, %v, %d left buffered", n, handled, err, bw.Buffered())
			}
			want := append(append([]byte{}, hdr...), body[10:len(body)-10]...)
			select {
			case b := <-got:
				if !bytes.Equal(b, want) {
					t.Fatalf("peer got %d bytes, not header+body (%d)", len(b), len(want))
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the peer did not get the whole response (a corked tail?)")
			}
		})
	}
}

// A config reload drops a static handler without retiring its entries: its snapshots'
// mappings and descriptors must still be released once the handler is garbage.
func TestDroppedHandlerReleasesSnapshots(t *testing.T) {
	root := t.TempDir()
	for i := range 4 {
		writeFile(t, filepath.Join(root, "f"+strconv.Itoa(i)+".bin"), patterned(100<<10, i))
	}
	before := snapshotMappings(t)
	func() {
		s := startStatic(t, "/", Config{Root: root}, nil)
		for i := range 4 {
			if r := s.get(t, "/f"+strconv.Itoa(i)+".bin"); r.StatusCode() != 200 || len(r.Body()) != 100<<10 {
				t.Fatalf("f%d: %d, %d bytes", i, r.StatusCode(), len(r.Body()))
			}
		}
		if n := snapshotMappings(t); n < before+4 {
			t.Fatalf("%d snapshot mappings after serving 4 files, want at least %d", n, before+4)
		}
		s.h.cache.mu.Lock()
		s.h.cache.entries = map[string]*staticEntry{} // what a reload leaves: entries not retired
		s.h.cache.mu.Unlock()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for snapshotMappings(t) > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d snapshot mappings left, want %d", snapshotMappings(t), before)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func snapshotMappings(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("memfd:edge-static"))
}
