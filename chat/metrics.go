package chat

import "time"

// Metrics receives chat events; cmd/edge may plug in Prometheus counters. The default
// is a no-op.
type Metrics interface {
	// Connections changes the number of open WebSocket connections by delta.
	Connections(delta int)
	// BatchCommitted reports one writer transaction: how many messages and how long.
	BatchCommitted(messages int, took time.Duration)
	// SendsFailed counts sends answered with an error code by the writer.
	SendsFailed(code Code, n int)
	// SlowConsumer counts connections closed because their send queue overflowed.
	SlowConsumer()
}

type nopMetrics struct{}

func (nopMetrics) Connections(int)                   {}
func (nopMetrics) BatchCommitted(int, time.Duration) {}
func (nopMetrics) SendsFailed(Code, int)             {}
func (nopMetrics) SlowConsumer()                     {}
