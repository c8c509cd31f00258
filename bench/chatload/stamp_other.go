//go:build !linux

package main

import (
	"net"
	"syscall"
)

// stampConn is Linux-only (SO_TIMESTAMPNS); elsewhere no arrival time is known.
type stampConn struct{}

func enableStamps(_, _ string, _ syscall.RawConn) error { return nil }

func newStampConn(c net.Conn) (net.Conn, *stampConn) { return c, nil }

func (s *stampConn) arrived() int64 { return 0 }
