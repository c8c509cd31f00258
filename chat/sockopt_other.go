//go:build !linux

package chat

import "time"

// setUserTimeout is Linux-only; elsewhere keepalives alone bound a silent peer.
func setUserTimeout(uintptr, time.Duration) error { return nil }
