package wsproto

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"
)

// Close status codes (RFC 6455 section 7.4.1 and the IANA registry).
const (
	CloseNormal        uint16 = 1000
	CloseGoingAway     uint16 = 1001
	CloseProtocolError uint16 = 1002
	CloseUnsupported   uint16 = 1003
	CloseNoStatus      uint16 = 1005 // never on the wire: "the close frame had no code"
	CloseAbnormal      uint16 = 1006 // never on the wire: "the connection dropped"
	CloseInvalidData   uint16 = 1007
	ClosePolicy        uint16 = 1008
	CloseTooBig        uint16 = 1009
	CloseExtension     uint16 = 1010
	CloseInternal      uint16 = 1011
	CloseRestart       uint16 = 1012
	CloseTryAgain      uint16 = 1013
	CloseBadGateway    uint16 = 1014
	CloseTLSHandshake  uint16 = 1015 // never on the wire: "the TLS handshake failed"
)

// MaxCloseReason is the longest close reason that fits a control frame.
const MaxCloseReason = MaxControlPayload - 2

// Errors from ParseClose; every one means the peer broke the protocol (answer 1002).
var (
	ErrCloseTruncated  = errors.New("close frame payload of 1 byte")
	ErrCloseTooLong    = errors.New("close frame payload over 125 bytes")
	ErrCloseCode       = errors.New("close code not allowed on the wire")
	ErrCloseReasonUTF8 = errors.New("close reason is not valid UTF-8")
)

// ValidCloseCode reports whether code may appear in a close frame on the wire:
// 1000-1003 and 1007-1014 (the registered codes, minus 1004 reserved and the
// 1005/1006/1015 pseudo-codes that MUST NOT be sent), 3000-3999 (registered by
// libraries and frameworks) and 4000-4999 (private use). Everything else is a
// protocol error (section 7.4.2: 0-999 unused, 1016-2999 reserved for the RFC and
// its extensions, 5000 and above undefined).
func ValidCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// AppendClosePayload appends a close payload: the code and the reason, cut at a
// UTF-8 boundary to MaxCloseReason bytes so the frame stays a valid control frame.
func AppendClosePayload(dst []byte, code uint16, reason string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, code)
	return append(dst, cutReason(reason)...)
}

func cutReason(reason string) string {
	if len(reason) <= MaxCloseReason {
		return reason
	}
	n := MaxCloseReason
	for n > 0 && !utf8.RuneStart(reason[n]) {
		n--
	}
	return reason[:n]
}

// AppendClose appends a complete close frame; masked with key when key is non-nil.
func AppendClose(dst []byte, code uint16, reason string, key *[4]byte) []byte {
	var buf [MaxControlPayload]byte
	p := AppendClosePayload(buf[:0], code, reason)
	if key != nil {
		return AppendMaskedFrame(dst, OpClose, p, *key)
	}
	return AppendFrame(dst, OpClose, p)
}

// ParseClose decodes a received close payload. An empty payload is legal and yields
// CloseNoStatus (which the receiver must not echo). A 1-byte payload, a code not
// allowed on the wire, and a reason that is not UTF-8 are protocol errors.
func ParseClose(p []byte) (code uint16, reason string, err error) {
	switch {
	case len(p) == 0:
		return CloseNoStatus, "", nil
	case len(p) == 1:
		return 0, "", ErrCloseTruncated
	case len(p) > MaxControlPayload:
		return 0, "", ErrCloseTooLong
	}
	code = binary.BigEndian.Uint16(p)
	if !ValidCloseCode(code) {
		return 0, "", ErrCloseCode
	}
	if !utf8.Valid(p[2:]) {
		return 0, "", ErrCloseReasonUTF8
	}
	return code, string(p[2:]), nil
}

// CloseReply is the code an endpoint sends back to a received close payload: the
// peer's code when it is valid, 1000 when the peer sent none, 1002 when the payload
// is malformed. It never returns a code that MUST NOT be sent.
func CloseReply(p []byte) uint16 {
	code, _, err := ParseClose(p)
	switch {
	case err != nil:
		return CloseProtocolError
	case code == CloseNoStatus:
		return CloseNormal
	}
	return code
}
