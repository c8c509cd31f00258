package chat

import "fmt"

// Code is a client-facing error code, sent in error frames and REST error bodies.
// The full table is in docs/chat-protocol.md.
type Code string

// Error codes.
const (
	CodeBadRequest     Code = "bad_request"     // malformed JSON, unknown type, missing field
	CodeInvalidRoom    Code = "invalid_room"    // room id not [A-Za-z0-9_.:-]{1,64}
	CodeInvalidContent Code = "invalid_content" // empty or too long after trimming, bad UTF-8
	CodeInvalidClient  Code = "invalid_client_id"
	CodeNotJoined      Code = "not_joined"     // send to a room the connection has not joined
	CodeTooManyRooms   Code = "too_many_rooms" // MaxRoomsPerConn reached
	CodeRateLimited    Code = "rate_limited"   // per-connection token bucket empty
	CodeTooLarge       Code = "too_large"      // frame or body over the cap
	CodeUnauthorized   Code = "unauthorized"   // missing, forged, expired or wrong-algorithm token
	CodeUnavailable    Code = "unavailable"    // database down or shutting down: retry (same client_id)
	CodeForbidden      Code = "forbidden_origin"
	CodeTooManyConns   Code = "too_many_connections"
	CodeNotFound       Code = "not_found"
	CodeMethod         Code = "method_not_allowed"
	CodeInternal       Code = "internal"
	CodeBanned         Code = "banned"     // this user or address is banned (the socket is closed with 4003)
	CodeRoomLimit      Code = "room_limit" // this address created too many rooms in the last hour
	CodeFiltered       Code = "filtered"   // the content matched the configured word filter
	CodeHeld           Code = "held"       // the content matched the filter and waits for an operator's review
)

// Error is a client-facing error: a stable code and a plain sentence.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// errUnavailable is returned while the store cannot be reached.
var errUnavailable = &Error{Code: CodeUnavailable, Message: "the message store is unavailable, retry with the same client_id"}

// errShuttingDown is returned for sends that arrive after Shutdown began.
var errShuttingDown = &Error{Code: CodeUnavailable, Message: "the server is restarting, reconnect and retry with the same client_id"}

// WebSocket close codes the server uses (RFC 6455 §7.4 plus one application code).
const (
	CloseNormal       = 1000 // reply to a client's close
	CloseGoingAway    = 1001 // server shutting down: reconnect and resume with "after"
	CloseProtocol     = 1002 // unmasked frame, reserved bits, bad opcode, bad control frame
	CloseInvalidUTF8  = 1007 // text frame that is not valid UTF-8
	ClosePolicy       = 1008 // repeated abuse (too many refused frames)
	CloseTooBig       = 1009 // message over MaxFrameBytes
	CloseInternal     = 1011
	CloseTryAgain     = 1013 // slow consumer: send queue overflowed; reconnect with "after"
	CloseUnauthorized = 4001 // bad token: fetch a new session, then reconnect
	CloseBanned       = 4003 // the user or address is banned: do not reconnect
)
