// Package syncset is a set of comparable values safe for concurrent use. edge keeps
// one for each thing that shutdown, a switch or a drain must reach one by one: the open
// connections to an upstream, the proxied WebSockets of a slot, the chat sessions.
package syncset

import "sync"

// Set is a set of T behind a mutex. The zero value is an empty set ready to use; a Set
// must not be copied after first use.
type Set[T comparable] struct {
	mu sync.Mutex
	m  map[T]struct{}
}

// Add puts v in the set (again: no change).
func (s *Set[T]) Add(v T) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[T]struct{}{}
	}
	s.m[v] = struct{}{}
	s.mu.Unlock()
}

// Remove takes v out of the set, if it is there.
func (s *Set[T]) Remove(v T) {
	s.mu.Lock()
	delete(s.m, v)
	s.mu.Unlock()
}

// Len is the number of members now.
func (s *Set[T]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// List is a snapshot of the members in no particular order, so the caller can close
// or signal each one without holding the lock (a member's Close may Remove itself).
func (s *Set[T]) List() []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]T, 0, len(s.m))
	for v := range s.m {
		out = append(out, v)
	}
	return out
}

// Find returns a member for which match is true, looked for under the lock (so match
// must be quick and must not touch the set).
func (s *Set[T]) Find(match func(T) bool) (v T, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for m := range s.m {
		if match(m) {
			return m, true
		}
	}
	return v, false
}
