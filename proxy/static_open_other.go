//go:build !unix

package proxy

import "os"

// openStaticFile opens name read-only.
func openStaticFile(name string) (*os.File, error) {
	return os.Open(name)
}
