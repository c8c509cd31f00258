//go:build !linux

package proxy

import "net"

// bytesReceived is unknown off Linux: a connection still waiting for its first request
// is then kept until the shutdown deadline.
func bytesReceived(net.Conn) (uint64, bool) { return 0, false }
