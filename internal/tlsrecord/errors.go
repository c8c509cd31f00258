package tlsrecord

import "fmt"

// AlertError is a TLS alert: one this side sent because the peer broke the protocol
// (Remote false), or one the peer sent (Remote true). close_notify is reported as io.EOF.
type AlertError struct {
	Alert  uint8
	Remote bool
	Reason string // why this side sent it; empty for a remote alert
}

func (e *AlertError) Error() string {
	if e.Remote {
		return fmt.Sprintf("tlsrecord: remote error: alert %d", e.Alert)
	}
	return fmt.Sprintf("tlsrecord: local error: %s (alert %d sent)", e.Reason, e.Alert)
}

func localAlert(alert uint8, format string, args ...any) error {
	return &AlertError{Alert: alert, Reason: fmt.Sprintf(format, args...)}
}
