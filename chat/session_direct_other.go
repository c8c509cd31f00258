//go:build !linux

package chat

import "net"

// directWriter is Linux-only (session_direct_linux.go); elsewhere every write goes
// through the writer goroutine.
type directWriter struct{}

func (s *session) initDirect(net.Conn) {}

func (s *session) writeDirectLocked() bool { return false }

func (s *session) writeOneLocked([]byte) int { return 0 }

func (s *session) flushPending() error { return nil }
