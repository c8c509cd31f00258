package syncset

import (
	"slices"
	"sync"
	"testing"
)

func TestSet(t *testing.T) {
	var s Set[int]
	if s.Len() != 0 || len(s.List()) != 0 {
		t.Fatal("zero Set is not empty")
	}
	s.Remove(7) // removing from the zero value is fine
	for _, v := range []int{3, 1, 2, 3} {
		s.Add(v)
	}
	s.Remove(2)
	got := s.List()
	slices.Sort(got)
	if s.Len() != 2 || !slices.Equal(got, []int{1, 3}) {
		t.Fatalf("Len %d, List %v; want 2, [1 3]", s.Len(), got)
	}
}

// TestSetConcurrent: members that remove themselves while another goroutine lists
// and closes them (what a shutdown does to connections), under -race.
func TestSetConcurrent(t *testing.T) {
	var s Set[*int]
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				p := new(int)
				s.Add(p)
				for _, m := range s.List() {
					_ = *m
				}
				s.Remove(p)
			}
		}()
	}
	wg.Wait()
	if s.Len() != 0 {
		t.Fatalf("Len = %d after every member removed itself", s.Len())
	}
}

func TestSetFind(t *testing.T) {
	var s Set[int]
	if _, ok := s.Find(func(int) bool { return true }); ok {
		t.Fatal("found a member in an empty set")
	}
	s.Add(3)
	s.Add(8)
	if v, ok := s.Find(func(v int) bool { return v > 5 }); !ok || v != 8 {
		t.Fatalf("Find(>5) = %d, %v", v, ok)
	}
	if _, ok := s.Find(func(v int) bool { return v > 9 }); ok {
		t.Fatal("Find(>9) found a member")
	}
}
