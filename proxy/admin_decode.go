package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// MaxAdminBody caps admin API request bodies.
const MaxAdminBody = 64 << 10

// MaxSwitchTimeout caps the timeout a switch request may ask for.
const MaxSwitchTimeout = 10 * time.Minute

// SwitchRequest is the body of POST /switch. Timeout is a duration such as "30s"
// (or a number of seconds); "" uses the server's default.
type SwitchRequest struct {
	App     string          `json:"app,omitempty"`
	Color   string          `json:"color"`
	Timeout json.RawMessage `json:"timeout,omitempty"`
}

// RollbackRequest is the body of POST /rollback; the body may also be empty.
type RollbackRequest struct {
	App     string          `json:"app,omitempty"`
	Timeout json.RawMessage `json:"timeout,omitempty"`
}

// switchCommand is a decoded, validated switch or rollback request.
type switchCommand struct {
	app     string
	color   Color
	timeout time.Duration
}

func badRequest(format string, args ...any) *Error {
	return errorf(CodeBadRequest, 400, fmt.Sprintf(format, args...))
}

// decodeStrict decodes exactly one JSON object with only known fields. An empty body
// is allowed when emptyOK.
func decodeStrict(body []byte, v any, emptyOK bool) *Error {
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return badRequest("the request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("the request body is not the expected JSON object: %v", err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return badRequest("the request body has data after the JSON object")
	}
	return nil
}

// decodeTimeout accepts "30s" style strings or a number of seconds.
func decodeTimeout(raw json.RawMessage) (time.Duration, *Error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var d time.Duration
	var str string
	var secs float64
	switch {
	case json.Unmarshal(raw, &str) == nil:
		if str == "" {
			return 0, nil
		}
		v, err := time.ParseDuration(str)
		if err != nil {
			return 0, badRequest("timeout %q is not a duration such as 30s or 1m", str)
		}
		d = v
	case json.Unmarshal(raw, &secs) == nil:
		if secs > MaxSwitchTimeout.Seconds() {
			return 0, badRequest("timeout %v is longer than %s", secs, MaxSwitchTimeout)
		}
		d = time.Duration(secs * float64(time.Second))
	default:
		return 0, badRequest("timeout must be a duration string such as \"30s\" or a number of seconds")
	}
	if d <= 0 || d > MaxSwitchTimeout {
		return 0, badRequest("timeout must be more than 0 and at most %s", MaxSwitchTimeout)
	}
	return d, nil
}

// decodeSwitch parses and validates a POST /switch body.
func decodeSwitch(body []byte) (switchCommand, *Error) {
	var req SwitchRequest
	if err := decodeStrict(body, &req, false); err != nil {
		return switchCommand{}, err
	}
	if req.Color == "" {
		return switchCommand{}, badRequest("color is missing; say blue or green")
	}
	c, err := ParseColor(req.Color)
	if err != nil {
		return switchCommand{}, badRequest("%v", err)
	}
	if len(req.App) > 256 {
		return switchCommand{}, badRequest("app name is too long")
	}
	t, e := decodeTimeout(req.Timeout)
	if e != nil {
		return switchCommand{}, e
	}
	return switchCommand{app: req.App, color: c, timeout: t}, nil
}

// decodeRollback parses and validates a POST /rollback body.
func decodeRollback(body []byte) (switchCommand, *Error) {
	var req RollbackRequest
	if err := decodeStrict(body, &req, true); err != nil {
		return switchCommand{}, err
	}
	if len(req.App) > 256 {
		return switchCommand{}, badRequest("app name is too long")
	}
	t, e := decodeTimeout(req.Timeout)
	if e != nil {
		return switchCommand{}, e
	}
	return switchCommand{app: req.App, timeout: t}, nil
}
