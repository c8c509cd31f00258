package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http/httputil"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzChunkedBody: for any bytes after a chunked head, the decoder terminates, never
// yields more than it was given, and when it reports the body complete, net/http's
// chunked reader decodes the same bytes and edge stopped exactly after the body's end
// (the rest is the next response). And any data chunked by net/http, split at any
// sizes, decodes back to itself.
func FuzzChunkedBody(f *testing.F) {
	for _, seed := range []string{
		"5\r\nhello\r\n0\r\n\r\nNEXT", "5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", "5\nhello\n0\n\n",
		"ffffffffffffffff\r\n", "5\r\nhelloXX0\r\n\r\n", "0\r\n", "5 \r\nhello\r\n0\r\n\r\n", "-1\r\n",
		"1\r\nx\r\n", "\r\n", "0\r\n" + strings.Repeat("X: 1\r\n", 70) + "\r\n",
	} {
		f.Add([]byte(seed), []byte("payload"), uint8(3))
	}
	f.Fuzz(func(t *testing.T, wire, data []byte, split uint8) {
		var b bodyReader
		br := bufio.NewReaderSize(bytes.NewReader(wire), 16)
		b.reset(br, bodyChunked, -1)
		got, err := io.ReadAll(&b)
		if len(got) > len(wire) {
			t.Fatalf("decoded %d bytes from %d", len(got), len(wire))
		}
		if err == nil {
			if !b.reusable() {
				t.Fatal("complete body but connection not reusable")
			}
			rest, _ := io.ReadAll(br)
			consumed := wire[:len(wire)-len(rest)]
			ref, rerr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(consumed)))
			if rerr == nil && !bytes.Equal(ref, got) {
				t.Fatalf("decoded %q, net/http %q from %q", got, ref, consumed)
			}
		} else if !errors.Is(err, errBadChunk) && !errors.Is(err, errBodyCut) {
			t.Fatalf("error %v is neither a bad chunk nor a cut", err)
		}

		// Round trip: data chunked at sizes split+1 decodes back to data.
		var enc bytes.Buffer
		cw := httputil.NewChunkedWriter(&enc)
		step := int(split) + 1
		for i := 0; i < len(data); i += step {
			_, _ = cw.Write(data[i:min(i+step, len(data))])
		}
		_ = cw.Close()
		enc.WriteString("\r\nNEXT")
		br = bufio.NewReaderSize(bytes.NewReader(enc.Bytes()), 16)
		b.reset(br, bodyChunked, -1)
		back, err := io.ReadAll(&b)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("round trip of %q: %q, %v", data, back, err)
		}
		if rest, _ := io.ReadAll(br); string(rest) != "NEXT" {
			t.Fatalf("after the body: %q", rest)
		}
	})
}

// FuzzWaitHead: waiting for a response head terminates on any bytes and reports a
// head exactly when an empty line ends one within the buffer.
func FuzzWaitHead(f *testing.F) {
	for _, seed := range []string{"HTTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 200 OK\nX: 1\n\n", "HTTP/1.1 200 OK\r\nX: 1\r\n",
		"\r\n\r\n", strings.Repeat("X: 1\r\n", 10) + "\r\n", "HTTP/1.1 200 OK\r\n\r"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		br := bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(wire)), 64)
		err := waitHead(br)
		b, _ := br.Peek(br.Buffered())
		want := -1
		for _, end := range [][]byte{[]byte("\n\r\n"), []byte("\n\n")} {
			if i := bytes.Index(wire, end); i >= 0 && (want < 0 || i+len(end) < want) {
				want = i + len(end)
			}
		}
		switch {
		case want >= 0 && want <= 64 && err != nil:
			t.Fatalf("head of %d bytes not found: %v", want, err)
		case (want < 0 || want > 64) && err == nil:
			t.Fatalf("head reported in %q", b)
		case err == nil && len(b) < want:
			t.Fatalf("reported before the end: %d of %d bytes", len(b), want)
		}
	})
}
