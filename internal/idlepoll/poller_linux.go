//go:build linux

// Package idlepoll parks idle connections without a goroutine each: a parked socket is
// watched by one epoll set, and when it becomes readable (data, a FIN, a reset) the
// poller starts its wake function on a new goroutine. A chat member that only listens
// then costs no goroutine stack (2 KiB, and as much again in GC headroom, since stacks
// count towards the GC goal) between the frames it sends.
package idlepoll

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Poller watches parked descriptors. Park, Unpark and the poller's own wake-ups
// serialize on mu, and a descriptor is removed from the epoll set under mu before
// anyone else may see it again, so a descriptor number that is closed and reused
// cannot inherit a registration (its owner Unparks before closing it).
type Poller struct {
	epfd int
	evfd int // written by Close to end the wait loop

	mu     sync.Mutex
	parked map[int32]entry
	gen    uint32
	closed bool
	done   chan struct{}
}

type entry struct {
	gen  uint32
	wake func()
}

// New creates the epoll set and starts the goroutine that waits on it (it blocks one
// OS thread in epoll_wait; the Go scheduler hands its P to others meanwhile).
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("creating the idle poller's epoll set: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("creating the idle poller's eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(evfd)
		return nil, fmt.Errorf("watching the idle poller's eventfd: %w", err)
	}
	p := &Poller{epfd: epfd, evfd: evfd, parked: map[int32]entry{}, done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// ErrClosed: Park after Close.
var ErrClosed = errors.New("idle poller closed")

// Park watches fd until it is readable or hung up, then calls wake on a new goroutine,
// once. fd must stay open until wake runs or Unpark returns true. A descriptor is parked
// at most once at a time.
func (p *Poller) Park(fd int, wake func()) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.gen++
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(fd), Pad: int32(p.gen)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("parking descriptor %d: %w", fd, err)
	}
	p.parked[int32(fd)] = entry{gen: p.gen, wake: wake}
	return nil
}

// Unpark stops watching fd. It reports whether fd was parked: then its wake will not be
// called, and the caller resumes the connection itself.
func (p *Poller) Unpark(fd int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.parked[int32(fd)]; !ok {
		return false
	}
	p.removeLocked(int32(fd))
	return true
}

func (p *Poller) removeLocked(fd int32) {
	delete(p.parked, fd)
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
}

// Parked is how many descriptors are parked.
func (p *Poller) Parked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

// Close stops the poller. Descriptors still parked are woken, so that their owners
// see whatever ends them.
func (p *Poller) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	one := [8]byte{1}
	_, _ = unix.Write(p.evfd, one[:])
	<-p.done
	p.mu.Lock()
	var wakes []func()
	for fd, e := range p.parked {
		wakes = append(wakes, e.wake)
		p.removeLocked(fd)
	}
	p.mu.Unlock()
	_ = unix.Close(p.epfd)
	_ = unix.Close(p.evfd)
	for _, w := range wakes {
		go w()
	}
}

func (p *Poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	var wakes []func()
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return // only a bad epfd: Close is the only one who closes it, after done
		}
		wakes = wakes[:0]
		p.mu.Lock()
		for _, ev := range events[:n] {
			if ev.Fd == -1 {
				p.mu.Unlock()
				return // Close
			}
			// An event of an earlier registration of the same number (dequeued just as
			// its owner Unparked, then the number was parked again) has another gen.
			if e, ok := p.parked[ev.Fd]; ok && e.gen == uint32(ev.Pad) {
				p.removeLocked(ev.Fd)
				wakes = append(wakes, e.wake)
			}
		}
		p.mu.Unlock()
		for _, w := range wakes {
			go w()
		}
	}
}
