//go:build !linux

package static

import (
	"bufio"
	"errors"
	"net"
	"os"
)

// sendFile is Linux-only (sendfile after a MSG_MORE header); elsewhere bodies are copied.
func sendFile(*bufio.Writer, *net.TCPConn, *sendFileOp) (int64, bool, error) {
	return 0, false, nil
}

type sendFileOp struct {
	src       int
	off, left int64
	err       error
	stepFn    func(uintptr) bool
}

func (o *sendFileOp) step(uintptr) bool { return true }

// snapshotFile needs memfd; elsewhere files up to staticMaxMemFile stay in Go memory.
func snapshotFile(string, []byte) (*os.File, []byte, error) {
	return nil, nil, errors.New("no memfd on this system")
}

func unmapSnapshot([]byte) {}
