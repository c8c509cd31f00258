package main

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// chatload's own CPU is part of what a 2-core benchmark box shares with edge and
// PostgreSQL, so the send frame it writes per durable message is made without
// reflection, byte for byte what encoding/json makes of the same map
// (TestFastFramesAgreeWithJSON). The frames it reads are in frame.go.

// appendSendFrame appends {"type":"send","room":…,"content":…,"client_id":…}.
func appendSendFrame(b []byte, room string, content, clientID []byte) []byte {
	b = append(b, `{"client_id":`...)
	b = appendJSONString(b, clientID)
	b = append(b, `,"content":`...)
	b = appendJSONString(b, content)
	b = append(b, `,"room":`...)
	b = appendJSONString(b, room)
	return append(b, `,"type":"send"}`...)
}

// appendJSONString appends s quoted as encoding/json does (with HTML escaping).
func appendJSONString[T string | []byte](b []byte, s T) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(string(s)) // rare: chatload's own strings are plain ASCII
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// sendContent and sendClientID are what send stamps into a message.
func sendContent(b []byte, now int64, g, seq int) []byte {
	b = append(b, "chatload "...)
	b = strconv.AppendInt(b, now, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(g), 10)
	b = append(b, '-')
	return strconv.AppendInt(b, int64(seq), 10)
}

func sendClientID(b []byte, runID string, g, seq int, now int64) []byte {
	b = append(b, runID...)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(g), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, '.')
	return strconv.AppendInt(b, now, 10)
}
