package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"unicode/utf8"
)

// parseFrame reads the fields chatload looks at. A message frame in the shape edge
// sends ({"type":"message","room":…,"message":{…,"content":"chatload <ns> …",…}})
// is read without encoding/json: with 10,000 receivers on one core, decoding every
// frame was a third of the client's CPU and made the client the bottleneck of a
// fan-out. Every other frame, and any message frame not in that shape, goes through
// decodeFrame (acks fast, the rest with encoding/json; FuzzFastFrameAgreesWithJSON).
func parseFrame(data []byte, f *frame) error {
	if fastMessage(data, f) {
		return nil
	}
	return decodeFrame(data, f) // acks without encoding/json too, the rest with it
}

var (
	messagePrefix = []byte(`{"type":"message","room":"`)
	contentKey    = []byte(`,"content":"`)
	stampPrefix   = "chatload "
)

// fastMessage fills f from a message frame whose content is a chatload stamp. In
// encoding/json's output a `"` inside a string is escaped, so `,"content":"` can only
// be a key; the first one after the prefix is the message's content (the frame's own
// keys before "message" are type and room only).
func fastMessage(data []byte, f *frame) bool {
	if !bytes.HasPrefix(data, messagePrefix) || data[len(data)-1] != '}' {
		return false
	}
	i := bytes.Index(data, contentKey)
	if i < 0 {
		return false
	}
	rest := data[i+len(contentKey):]
	if !bytes.HasPrefix(rest, []byte(stampPrefix)) {
		return false
	}
	// the stamp digits, then a space; the content must end in a plain '"'.
	j := len(stampPrefix)
	var ns int64
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		d := int64(rest[j] - '0')
		if ns > (math.MaxInt64-d)/10 {
			return false // strconv.ParseInt would fail too
		}
		ns = ns*10 + d
		j++
	}
	if ns == 0 || j >= len(rest) || rest[j] != ' ' {
		return false
	}
	end := j
	for end < len(rest) && rest[end] != '"' {
		if rest[end] == '\\' || rest[end] < ' ' {
			return false // escapes: let encoding/json decide
		}
		end++
	}
	if end == len(rest) {
		return false
	}
	*f = frame{Type: "message", stamp: ns}
	return true
}

// readFrame reads the next data frame into buf (reused between frames).
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
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
