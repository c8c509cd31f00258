package main

import (
	"math/bits"
	"sync/atomic"
)

// hist is a lock-free latency histogram in microseconds with ~3% precision: values
// below 64 have their own bucket, above that each power of two has 32 buckets.
type hist struct {
	counts [numBuckets]atomic.Int64
}

const (
	linear     = 64
	perOctave  = 32
	numBuckets = linear + 40*perOctave
)

func bucketOf(us int64) int {
	if us < 0 {
		us = 0
	}
	if us < linear {
		return int(us)
	}
	e := bits.Len64(uint64(us)) - 6 // ≥ 1: keep the top 6 bits (32…63)
	m := us >> e
	i := linear + (e-1)*perOctave + int(m-perOctave)
	if i >= numBuckets {
		return numBuckets - 1
	}
	return i
}

// bucketMid is a representative value (µs) of bucket i: the middle of its range.
func bucketMid(i int) float64 {
	if i < linear {
		return float64(i)
	}
	e := (i-linear)/perOctave + 1
	m := int64((i-linear)%perOctave + perOctave)
	lo := m << e
	hi := (m+1)<<e - 1
	return float64(lo+hi) / 2
}

func (h *hist) record(us int64) { h.counts[bucketOf(us)].Add(1) }

// snapshot returns the non-empty buckets as index → count (JSON-friendly, sparse).
func (h *hist) snapshot() map[int]int64 {
	out := map[int]int64{}
	for i := range h.counts {
		if n := h.counts[i].Load(); n > 0 {
			out[i] = n
		}
	}
	return out
}

// sparseHist is a merged histogram from several workers.
type sparseHist map[int]int64

func (s sparseHist) merge(o map[int]int64) {
	for i, n := range o {
		if i >= 0 && i < numBuckets && n > 0 {
			s[i] += n
		}
	}
}

func (s sparseHist) total() int64 {
	var t int64
	for _, n := range s {
		t += n
	}
	return t
}

// quantile returns the q-quantile (0 < q ≤ 1) in milliseconds, or 0 when empty.
func (s sparseHist) quantile(q float64) float64 {
	total := s.total()
	if total == 0 {
		return 0
	}
	rank := int64(q*float64(total) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for i := 0; i < numBuckets; i++ {
		seen += s[i]
		if seen >= rank {
			return bucketMid(i) / 1000
		}
	}
	return bucketMid(numBuckets-1) / 1000
}

// max returns the upper bucket's representative value in milliseconds, or 0 when empty.
func (s sparseHist) max() float64 {
	top := -1
	for i, n := range s {
		if n > 0 && i > top {
			top = i
		}
	}
	if top < 0 {
		return 0
	}
	return bucketMid(top) / 1000
}
