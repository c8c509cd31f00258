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
// Weight (1–99) starts or changes a canary instead of a full switch; MinHealthy lets
// a switch go ahead with that many healthy replicas of the target instead of all.
type SwitchRequest struct {
	App        string          `json:"app,omitempty"`
	Color      string          `json:"color"`
	Timeout    json.RawMessage `json:"timeout,omitempty"`
	Weight     *int            `json:"weight,omitempty"`
	MinHealthy *int            `json:"min_healthy,omitempty"`
	Auto       *AutoRequest    `json:"auto,omitempty"`
}

// AutoRequest asks for an automatic canary (Server.SwitchAuto); empty fields get its
// defaults. Hold is a duration such as "60s" (or a number of seconds).
type AutoRequest struct {
	Steps        []int           `json:"steps,omitempty"`
	Hold         json.RawMessage `json:"hold,omitempty"`
	MaxErrorRise float64         `json:"max_error_rise,omitempty"`
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
	opts    SwitchOptions
	auto    *AutoOptions
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
	return decodeDuration(raw, "timeout")
}

// decodeDuration reads the duration field name: "30s" style strings or a number of
// seconds, more than 0 and at most 10 minutes.
func decodeDuration(raw json.RawMessage, name string) (time.Duration, *Error) {
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
			return 0, badRequest("%s %q is not a duration such as 30s or 1m", name, str)
		}
		d = v
	case json.Unmarshal(raw, &secs) == nil:
		if secs > MaxSwitchTimeout.Seconds() {
			return 0, badRequest("%s %v is longer than %s", name, secs, MaxSwitchTimeout)
		}
		d = time.Duration(secs * float64(time.Second))
	default:
		return 0, badRequest("%s must be a duration string such as \"30s\" or a number of seconds", name)
	}
	if d <= 0 || d > MaxSwitchTimeout {
		return 0, badRequest("%s must be more than 0 and at most %s", name, MaxSwitchTimeout)
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
	cmd := switchCommand{app: req.App, color: c, timeout: t, opts: SwitchOptions{Timeout: t}}
	if req.Weight != nil {
		if *req.Weight < 1 || *req.Weight > MaxWeight {
			return switchCommand{}, badRequest("weight %d is outside 1 to %d: it is the percentage of visitors sent to %s", *req.Weight, MaxWeight, c)
		}
		cmd.opts.Weight = *req.Weight
	}
	if req.MinHealthy != nil {
		if *req.MinHealthy < 1 || *req.MinHealthy > MaxReplicas {
			return switchCommand{}, badRequest("min_healthy %d must be at least 1 (and at most %d)", *req.MinHealthy, MaxReplicas)
		}
		cmd.opts.MinHealthy = *req.MinHealthy
	}
	if req.Auto != nil {
		if req.Weight != nil {
			return switchCommand{}, badRequest("weight and auto do not go together: auto chooses the weights (auto.steps)")
		}
		hold, e := decodeDuration(req.Auto.Hold, "auto.hold")
		if e != nil {
			return switchCommand{}, e
		}
		if req.Auto.MaxErrorRise < 0 || req.Auto.MaxErrorRise > 100 {
			return switchCommand{}, badRequest("auto.max_error_rise %v must be from 0 to 100 percentage points", req.Auto.MaxErrorRise)
		}
		for i, w := range req.Auto.Steps {
			if w < 1 || w > MaxWeight || i > 0 && w <= req.Auto.Steps[i-1] {
				return switchCommand{}, badRequest("auto.steps %v must rise, each from 1 to %d", req.Auto.Steps, MaxWeight)
			}
		}
		cmd.auto = &AutoOptions{Steps: req.Auto.Steps, Hold: hold, MaxErrorRise: req.Auto.MaxErrorRise,
			Timeout: t, MinHealthy: cmd.opts.MinHealthy}
	}
	return cmd, nil
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

// PauseRequest is the body of POST /pause; MaxWait is a duration such as "30s" (or a
// number of seconds), "" meaning DefaultPauseMaxWait.
type PauseRequest struct {
	App     string          `json:"app,omitempty"`
	MaxWait json.RawMessage `json:"max_wait,omitempty"`
}

// ResumeRequest is the body of POST /resume; the body may also be empty.
type ResumeRequest struct {
	App string `json:"app,omitempty"`
}

// MaintenanceRequest is the body of POST /maintenance. On is required.
type MaintenanceRequest struct {
	App     string `json:"app,omitempty"`
	On      *bool  `json:"on"`
	Message string `json:"message,omitempty"`
}

// trafficCommand is a decoded pause, resume or maintenance request.
type trafficCommand struct {
	app     string
	maxWait time.Duration
	on      bool
	message string
}

func decodePause(body []byte) (trafficCommand, *Error) {
	var req PauseRequest
	if err := decodeStrict(body, &req, true); err != nil {
		return trafficCommand{}, err
	}
	d, e := decodeDuration(req.MaxWait, "max_wait")
	if e != nil {
		return trafficCommand{}, e
	}
	return trafficCommand{app: req.App, maxWait: d}, checkAppName(req.App)
}

func decodeResume(body []byte) (trafficCommand, *Error) {
	var req ResumeRequest
	if err := decodeStrict(body, &req, true); err != nil {
		return trafficCommand{}, err
	}
	return trafficCommand{app: req.App}, checkAppName(req.App)
}

func decodeMaintenance(body []byte) (trafficCommand, *Error) {
	var req MaintenanceRequest
	if err := decodeStrict(body, &req, false); err != nil {
		return trafficCommand{}, err
	}
	if req.On == nil {
		return trafficCommand{}, badRequest("on is missing; send {\"on\": true} or {\"on\": false}")
	}
	if len(req.Message) > MaxMaintenanceMessage {
		return trafficCommand{}, badRequest("the maintenance message is longer than %d bytes", MaxMaintenanceMessage)
	}
	return trafficCommand{app: req.App, on: *req.On, message: req.Message}, checkAppName(req.App)
}

func checkAppName(name string) *Error {
	if len(name) > 256 {
		return badRequest("app name is too long")
	}
	return nil
}
