//go:build !linux

package idlepoll

import "errors"

// Poller is Linux-only; elsewhere New fails and callers keep a goroutine per connection.
type Poller struct{}

// ErrClosed: Park after Close.
var ErrClosed = errors.New("idle poller closed")

func New() (*Poller, error)              { return nil, errors.New("idle poller: Linux only") }
func (p *Poller) Park(int, func()) error { return ErrClosed }
func (p *Poller) Unpark(int) bool        { return false }
func (p *Poller) Parked() int            { return 0 }
func (p *Poller) Close()                 {}
