// Package wsproto is the RFC 6455 wire code shared by the chat (server side of a
// WebSocket) and the proxy (relaying frames between a client and an upstream): frame
// headers, payload lengths and close frames. It does no I/O and imports none of
// proxy, tls or chat.
package wsproto

import "encoding/binary"

// Opcodes (RFC 6455 section 5.2).
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// MaxControlPayload is the largest payload of a control frame (section 5.5).
const MaxControlPayload = 125

// ExtLenBytes says how many extended payload length bytes follow the second header
// byte b1: 0, 2 or 8.
func ExtLenBytes(b1 byte) int {
	switch b1 & 0x7f {
	case 126:
		return 2
	case 127:
		return 8
	}
	return 0
}

// PayloadLen decodes the payload length from the second header byte b1 and the
// ExtLenBytes(b1) bytes that follow it. A 64-bit length with the top bit set is
// invalid (section 5.2); callers check ValidLen.
func PayloadLen(b1 byte, ext []byte) uint64 {
	switch b1 & 0x7f {
	case 126:
		return uint64(binary.BigEndian.Uint16(ext))
	case 127:
		return binary.BigEndian.Uint64(ext)
	}
	return uint64(b1 & 0x7f)
}

// ValidLen reports whether a decoded payload length is allowed: the most significant
// bit of a 64-bit length must be 0.
func ValidLen(n uint64) bool { return n>>63 == 0 }

// AppendHeader appends a final frame's header with opcode op and an n-byte payload.
// With a mask key the mask bit and key are written too; the caller masks the payload
// (frames to a server must be masked, frames to a client must not).
func AppendHeader(dst []byte, op byte, n int, mask *[4]byte) []byte {
	m := byte(0)
	if mask != nil {
		m = 0x80
	}
	switch {
	case n < 126:
		dst = append(dst, 0x80|op, m|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|op, m|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|op, m|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if mask != nil {
		dst = append(dst, mask[:]...)
	}
	return dst
}

// AppendFrame appends a final, unmasked frame (server to client).
func AppendFrame(dst []byte, op byte, payload []byte) []byte {
	return append(AppendHeader(dst, op, len(payload), nil), payload...)
}

// AppendMaskedFrame appends a final frame masked with key (client to server).
func AppendMaskedFrame(dst []byte, op byte, payload []byte, key [4]byte) []byte {
	dst = AppendHeader(dst, op, len(payload), &key)
	for i, b := range payload {
		dst = append(dst, b^key[i&3])
	}
	return dst
}
