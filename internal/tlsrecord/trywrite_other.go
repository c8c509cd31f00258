//go:build !unix

package tlsrecord

// TryWrite is unix-only; elsewhere every write goes through Write.
func (c *Conn) TryWrite([][]byte) (ok, pending bool) { return false, false }
