//go:build !unix

package proxy

// peerClosed cannot peek without blocking here; idle connections are trusted.
func (c *upConn) peerClosed() bool { return false }
