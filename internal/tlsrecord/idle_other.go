//go:build !linux

package tlsrecord

// idleWait elsewhere: the reader waits in its blocking read and keeps the AEAD.
type idleWait struct{}

func (w *idleWait) init(*Conn)  {}
func (w *idleWait) wait() error { return nil }
