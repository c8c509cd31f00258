//go:build !unix

package static

import "os"

// openStaticFile opens name read-only.
func openStaticFile(name string) (*os.File, error) {
	return os.Open(name)
}
