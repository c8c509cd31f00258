//go:build !unix

package tlsrecord

import (
	"net"
	"time"
)

// writeNow writes b with a short deadline (used for a last alert before the
// connection ends).
func writeNow(c *net.TCPConn, b []byte) {
	_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	_, _ = c.Write(b)
}
