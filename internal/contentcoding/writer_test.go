package contentcoding

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func decoder(t *testing.T, c Coding, r io.Reader) io.Reader {
	t.Helper()
	d, err := NewReader(c.Name(), r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestFlushIsDecodable checks the property streaming relies on: after Flush, the
// bytes out so far decode to everything written so far, and the whole stream
// round-trips to the identity after Close.
func TestFlushIsDecodable(t *testing.T) {
	for _, c := range []Coding{Gzip, Brotli, Zstd} {
		t.Run(c.Name(), func(t *testing.T) {
			var out bytes.Buffer
			w := NewWriter(c, &out)
			defer Release(w)
			first := "data: " + strings.Repeat("first event ", 20) + "\n\n"
			if _, err := w.Write([]byte(first)); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			// Decode what was emitted so far without the end of the stream.
			got := make([]byte, len(first))
			if _, err := io.ReadFull(decoder(t, c, bytes.NewReader(out.Bytes())), got); err != nil {
				t.Fatalf("flushed output does not decode to the first write: %v", err)
			}
			if string(got) != first {
				t.Fatalf("flushed output decodes to %q", got)
			}
			second := strings.Repeat("second part ", 500)
			if _, err := w.Write([]byte(second)); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			all, err := io.ReadAll(decoder(t, c, &out))
			if err != nil {
				t.Fatal(err)
			}
			if string(all) != first+second {
				t.Fatalf("round trip lost data: %d bytes, want %d", len(all), len(first+second))
			}
		})
	}
}

// TestPoolReuse checks a released writer starts a fresh stream for its next user.
func TestPoolReuse(t *testing.T) {
	for _, c := range []Coding{Gzip, Brotli, Zstd} {
		for i := range 3 {
			var out bytes.Buffer
			w := NewWriter(c, &out)
			msg := strings.Repeat("x", 100*(i+1))
			_, _ = w.Write([]byte(msg))
			if i == 1 { // abandon mid-stream: the next user must not see this
				Release(w)
				continue
			}
			_ = w.Close()
			Release(w)
			got, err := io.ReadAll(decoder(t, c, &out))
			if err != nil || string(got) != msg {
				t.Fatalf("%s use %d: %d bytes, err %v", c.Name(), i, len(got), err)
			}
		}
	}
}
