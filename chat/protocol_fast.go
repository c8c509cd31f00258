package chat

import (
	"strconv"
	"unicode/utf8"
)

// decodeFast parses the common shape of a client frame without encoding/json's
// reflection: one flat object whose keys are exactly the protocol's lower-case names,
// each at most once, with plain string values (no escapes, no control characters, valid
// UTF-8) and "after" a plain integer. It reports false for anything else — escapes,
// other keys (encoding/json matches keys case-insensitively), null, nesting,
// duplicates — and the caller then decodes with encoding/json, so the result is always
// what encoding/json would give (FuzzDecodeFastAgreesWithJSON checks this). About one
// fifth of edge's CPU per durable message went to encoding/json here.
func decodeFast(data []byte, f *clientFrame) bool {
	p := fastParser{b: data}
	p.ws()
	if !p.eat('{') {
		return false
	}
	var seen uint8
	p.ws()
	if p.eat('}') {
		return p.end()
	}
	for {
		p.ws()
		key, ok := p.plainString()
		if !ok {
			return false
		}
		p.ws()
		if !p.eat(':') {
			return false
		}
		p.ws()
		var bit uint8
		switch string(key) {
		case "type":
			bit = 1
			ok = p.typeField(&f.Type)
		case "room":
			bit = 2
			ok = p.stringField(&f.Room)
		case "content":
			bit = 4
			ok = p.stringField(&f.Content)
		case "client_id":
			bit = 8
			ok = p.stringField(&f.ClientID)
		case "after":
			bit = 16
			var v int64
			if v, ok = p.integer(); ok {
				f.After = &v
			}
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		p.ws()
		if p.eat('}') {
			return p.end()
		}
		if !p.eat(',') {
			return false
		}
	}
}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *fastParser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// plainString reads a JSON string without escapes or control characters, in valid
// UTF-8, and returns its bytes (aliasing the input).
func (p *fastParser) plainString() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

func (p *fastParser) stringField(dst *string) bool {
	s, ok := p.plainString()
	if ok {
		*dst = string(s)
	}
	return ok
}

// typeField is stringField for "type", whose known values are constants (no
// allocation per frame); another value is copied as any string is.
func (p *fastParser) typeField(dst *string) bool {
	s, ok := p.plainString()
	if !ok {
		return false
	}
	switch string(s) {
	case "send":
		*dst = "send"
	case "join":
		*dst = "join"
	case "leave":
		*dst = "leave"
	default:
		*dst = string(s)
	}
	return true
}

// integer reads a JSON number that is a plain integer fitting int64.
func (p *fastParser) integer() (int64, bool) {
	start := p.i
	p.eat('-')
	digits := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	n := p.i - digits
	if n == 0 || n > 1 && p.b[digits] == '0' {
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	v, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
	return v, err == nil
}
