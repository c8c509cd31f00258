package static

import (
	"sync"
	"sync/atomic"
	"time"
)

// staticEntry is everything needed to answer for one request key. It is built once per
// version of its files and revalidated against the disk at most once per TTL; a
// changed file gets a new entry, the old one is retired.
type staticEntry struct {
	cache *staticCache

	reps    [numEncodings]*staticRep // identity always; br/gz when precompressed siblings exist
	dyn     [numEncodings]lazyRep    // on-the-fly br/gz, when dynamic
	have    [numEncodings]bool       // codings negotiation may pick
	dynamic bool                     // compress on the fly (no siblings, compressible, size in range)
	vary    bool                     // the response depends on Accept-Encoding

	contentType  []byte
	cacheControl []byte
	lastModified []byte
	modTime      time.Time // second precision, for If-Modified-Since

	sources [numEncodings]fileID // what revalidation compares against
	checked atomic.Int64         // handler clock (ns) of the last validation

	mu      sync.Mutex
	retired bool
	charged int64 // bytes charged to the cache's memory budget
}

// charge reserves n bytes of the memory budget for this entry. e.mu is not held
// while charging: a charge may sweep the cache and retire entries, e itself included.
func (e *staticEntry) charge(n int64) bool {
	if !e.cache.charge(n) {
		return false
	}
	e.mu.Lock()
	retired := e.retired
	if !retired {
		e.charged += n
	}
	e.mu.Unlock()
	if retired {
		e.cache.uncharge(n)
		return false
	}
	return true
}

// retire gives back the entry's memory budget and closes its files once no response
// is using them any more. In-flight responses keep working.
func (e *staticEntry) retire() {
	e.mu.Lock()
	if e.retired {
		e.mu.Unlock()
		return
	}
	e.retired = true
	n := e.charged
	e.charged = 0
	e.mu.Unlock()
	e.cache.uncharge(n)
	for _, r := range e.reps {
		if r != nil && r.file != nil {
			r.file.retire()
		}
	}
}

// representation returns the representation for a coding in e.have, compressing on
// first use when the entry is dynamic. nil means: use identity.
func (e *staticEntry) representation(enc encoding) *staticRep {
	if !e.dynamic || enc == encIdentity {
		return e.reps[enc]
	}
	l := &e.dyn[enc]
	l.once.Do(func() { l.rep = e.compress(enc) })
	return l.rep
}

func (e *staticEntry) compress(enc encoding) *staticRep {
	id := e.reps[encIdentity]
	src := id.data
	if !id.inMemory {
		src = make([]byte, id.size)
		if n, _ := id.file.readAt(src, 0); int64(n) != id.size {
			return nil
		}
	}
	rep := compressRep(src, enc, string(id.etag))
	if rep == nil || !e.charge(rep.size) {
		return nil
	}
	return rep
}

// staticCache maps canonical request keys to entries. Only keys that led to a real
// file are stored, so its size is bounded by the site, and by maxEntries on top.
type staticCache struct {
	mu      sync.RWMutex
	entries map[string]*staticEntry

	maxEntries int
	memLimit   int64
	memUsed    atomic.Int64

	clock     func() int64 // handler clock, ns
	idleAfter int64        // entries not validated for this long may be evicted
	lastSweep atomic.Int64
}

func newStaticCache(maxEntries int, memLimit int64, clock func() int64, idleAfter int64) *staticCache {
	return &staticCache{
		entries:    make(map[string]*staticEntry),
		maxEntries: maxEntries,
		memLimit:   memLimit,
		clock:      clock,
		idleAfter:  idleAfter,
	}
}

// get looks a key up without allocating.
func (c *staticCache) get(key []byte) *staticEntry {
	c.mu.RLock()
	e := c.entries[string(key)]
	c.mu.RUnlock()
	return e
}

// charge reserves n bytes of the memory budget; when the budget is exhausted it
// evicts idle entries (at most once per idleAfter/8) and tries again.
func (c *staticCache) charge(n int64) bool {
	if c.tryCharge(n) {
		return true
	}
	now := c.clock()
	last := c.lastSweep.Load()
	if now-last < c.idleAfter/8 || !c.lastSweep.CompareAndSwap(last, now) {
		return false
	}
	c.mu.Lock()
	evicted := c.evictLocked(now, false)
	c.mu.Unlock()
	retireAll(evicted)
	return c.tryCharge(n)
}

func (c *staticCache) tryCharge(n int64) bool {
	for {
		used := c.memUsed.Load()
		if used+n > c.memLimit {
			return false
		}
		if c.memUsed.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

func (c *staticCache) uncharge(n int64) { c.memUsed.Add(-n) }

// add stores e under key unless another request stored one first; it returns the
// entry to use.
func (c *staticCache) add(key string, e *staticEntry) *staticEntry {
	c.mu.Lock()
	if cur := c.entries[key]; cur != nil {
		c.mu.Unlock()
		e.retire()
		return cur
	}
	var evicted []*staticEntry
	if len(c.entries) >= c.maxEntries {
		evicted = c.evictLocked(c.clock(), true)
	}
	c.entries[key] = e
	c.mu.Unlock()
	retireAll(evicted)
	return e
}

// remove drops key if it still maps to old.
func (c *staticCache) remove(key string, old *staticEntry) {
	c.mu.Lock()
	if c.entries[key] == old {
		delete(c.entries, key)
	}
	c.mu.Unlock()
	old.retire()
}

// evictLocked drops entries not validated within idleAfter; when full is set and that
// was not enough, it drops arbitrary entries down to 7/8 of maxEntries.
func (c *staticCache) evictLocked(now int64, full bool) []*staticEntry {
	var out []*staticEntry
	for k, e := range c.entries {
		if now-e.checked.Load() > c.idleAfter {
			delete(c.entries, k)
			out = append(out, e)
		}
	}
	if full {
		for k, e := range c.entries {
			if len(c.entries) < c.maxEntries*7/8 {
				break
			}
			delete(c.entries, k)
			out = append(out, e)
		}
	}
	return out
}

func retireAll(es []*staticEntry) {
	for _, e := range es {
		e.retire()
	}
}

// len is for tests and metrics.
func (c *staticCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
