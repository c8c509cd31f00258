//go:build !unix

package tlsrecord

import "time"

// TryWrite is unix-only; elsewhere every write goes through Write.
func (c *Conn) TryWrite([][]byte) (ok, pending bool) { return false, false }

type nonBlocking struct{}

func (w *nonBlocking) init(*Conn) {}

// writeNow writes b with a short deadline (a last alert before the connection ends).
func (c *Conn) writeNow(b []byte) {
	_ = c.tcp.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	_, _ = c.tcp.Write(b)
}
