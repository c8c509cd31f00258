//go:build unix

package tlsrecord

import (
	"net"
	"syscall"
)

// writeNow writes b with one non-blocking write(2): whatever the socket does not take
// at once is dropped (used for a last alert before the connection ends).
func writeNow(c *net.TCPConn, b []byte) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Write(func(fd uintptr) bool {
		for {
			if _, err := syscall.Write(int(fd), b); err != syscall.EINTR {
				return true
			}
		}
	})
}
