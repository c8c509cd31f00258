//go:build !linux

package proxy

import "net"

// listenTCP listens on addr; Go sets TCP keep-alive (15 s) on each accepted connection.
func listenTCP(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
