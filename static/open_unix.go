//go:build unix

package static

import (
	"os"
	"syscall"
)

// openStaticFile opens name read-only without blocking: a FIFO swapped in for a file
// must not hang the request (the caller then refuses anything but a regular file).
func openStaticFile(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
