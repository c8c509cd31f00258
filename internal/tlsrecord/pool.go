package tlsrecord

import "sync"

// Record buffers come from size classes so that a connection holds one only while a
// record is being read or written: an idle Conn holds none.
var bufClasses = [...]int{512, 2048, 8192, maxRecord}

var bufPools [len(bufClasses)]sync.Pool

func getBuf(n int) *[]byte {
	for i, size := range bufClasses {
		if n <= size {
			if b, ok := bufPools[i].Get().(*[]byte); ok {
				return b
			}
			b := make([]byte, size)
			return &b
		}
	}
	b := make([]byte, n) // never: callers bound n by maxRecord
	return &b
}

func putBuf(b *[]byte) {
	for i, size := range bufClasses {
		if cap(*b) == size {
			*b = (*b)[:size]
			bufPools[i].Put(b)
			return
		}
	}
}
