package cluster

import "fmt"

// Error codes of fleet operations, for the admin API and scripts.
const (
	CodeDatabaseDown = "database_down" // the fleet database cannot be reached
	CodeUnhealthy    = "unhealthy"     // an instance sees the target unhealthy
	CodeNoAnswer     = "no_answer"     // a live instance did not report in time
	CodeConflict     = "conflict"      // another switch committed meanwhile
	CodeUnknownApp   = "unknown_app"
	CodeNoPrevious   = "no_previous"
	CodeBadRequest   = "bad_request"
)

// Error is a refused fleet operation: Message is one sentence for people.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
