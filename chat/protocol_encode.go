package chat

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// A message frame is encoded once per message and room; with one member per room (the
// durable benchmark) that is once per message, and encoding/json's reflection was a
// tenth of edge's CPU there. appendMessageFrame writes the same bytes as
// json.Marshal(messageFrame{…}) (FuzzMessageFrameAgreesWithJSON); a message it cannot
// encode the same way (a time outside years 0–9999 or not in UTC) goes through
// encoding/json.

// messageFrameSize is what appendMessageFrame appends for m unless strings need
// escaping: 210 bytes of names, punctuation, id and time at most, and the strings
// (the room twice), with an eighth of the content more for escapes.
func messageFrameSize(m *Message) int {
	return 210 + 2*len(m.Room) + len(m.SenderID) + len(m.Nickname) + len(m.Avatar) +
		len(m.ClientID) + len(m.Content) + len(m.Content)/8
}

func appendMessageFrame(b []byte, m *Message) ([]byte, bool) {
	if m.CreatedAt.Location() != time.UTC || m.CreatedAt.Year() < 0 || m.CreatedAt.Year() > 9999 {
		return b, false
	}
	b = append(b, `{"type":"message","room":`...)
	b = appendJSONString(b, m.Room)
	b = append(b, `,"message":{"id":`...)
	b = strconv.AppendInt(b, m.ID, 10)
	b = append(b, `,"room":`...)
	b = appendJSONString(b, m.Room)
	b = append(b, `,"sender_id":`...)
	b = appendJSONString(b, m.SenderID)
	b = append(b, `,"nickname":`...)
	b = appendJSONString(b, m.Nickname)
	b = append(b, `,"avatar":`...)
	b = appendJSONString(b, m.Avatar)
	b = append(b, `,"content":`...)
	b = appendJSONString(b, m.Content)
	b = append(b, `,"created_at":"`...)
	b = m.CreatedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","client_id":`...)
	b = appendJSONString(b, m.ClientID)
	if m.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	return append(b, "}}"...), true
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does: HTML-safe, invalid UTF-8 replaced,
// U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
