package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// chatload's own CPU is part of what a 2-core benchmark box shares with edge and
// PostgreSQL, so two of the frames it handles per durable message are made and read without
// reflection: the send frame it writes, and the ack it reads back. The send frame is
// byte for byte what encoding/json makes of the same map, and an ack read fast gives the
// fields read looks at exactly as encoding/json would (TestFastFramesAgreeWithJSON).

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

var ackFramePrefix = []byte(`{"type":"ack","client_id":"`)

// decodeFrame fills f from data: an ack in edge's field order without reflection (it
// only takes the client id up to its closing quote when no escape precedes it),
// anything else with encoding/json.
func decodeFrame(data []byte, f *frame) error {
	if rest, ok := bytes.CutPrefix(data, ackFramePrefix); ok {
		if i := bytes.IndexByte(rest, '"'); i >= 0 && plain(rest[:i]) && json.Valid(data) {
			*f = frame{Type: "ack", ClientID: string(rest[:i])}
			return nil
		}
	}
	*f = frame{}
	return json.Unmarshal(data, f)
}

// plain: a JSON string body that decodes to itself (no escape, valid UTF-8).
func plain(s []byte) bool { return bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) }

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
