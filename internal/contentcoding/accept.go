// Package contentcoding negotiates HTTP content codings (RFC 9110 §12.5.3) and
// provides pooled streaming encoders for them. It is shared by the static file
// server and the compression of proxied responses so both choose a coding the same way.
package contentcoding

import "bytes"

// Coding is a content coding edge can send.
type Coding uint8

// The codings, in no particular order; Identity is the zero value.
const (
	Identity Coding = iota
	Brotli
	Zstd
	Gzip
	NumCodings
)

var names = [NumCodings]string{"", "br", "zstd", "gzip"}

// Name is the token of c in Content-Encoding ("" for identity).
func (c Coding) Name() string { return names[c] }

// Set marks which codings are available for one response.
type Set [NumCodings]bool

// Accepted holds the q-values (0..1000) an Accept-Encoding header gave; -1 means
// the coding was not mentioned.
type Accepted struct {
	q        [NumCodings]int
	star     int
	explicit bool // identity was listed by name
}

// ParseAcceptEncoding parses an Accept-Encoding value ("gzip, br;q=0.9, *;q=0")
// without allocating. Elements with an unparsable q-value are ignored.
func ParseAcceptEncoding(h []byte) Accepted {
	a := Accepted{q: [NumCodings]int{-1, -1, -1, -1}, star: -1}
	for len(h) > 0 {
		var elem []byte
		if i := bytes.IndexByte(h, ','); i >= 0 {
			elem, h = h[:i], h[i+1:]
		} else {
			elem, h = h, nil
		}
		name, params := elem, []byte(nil)
		if i := bytes.IndexByte(elem, ';'); i >= 0 {
			name, params = elem[:i], elem[i+1:]
		}
		name = trimOWS(name)
		q, ok := parseQParams(params)
		if !ok || len(name) == 0 {
			continue
		}
		switch {
		case bytes.EqualFold(name, []byte("br")):
			a.q[Brotli] = q
		case bytes.EqualFold(name, []byte("zstd")):
			a.q[Zstd] = q
		case bytes.EqualFold(name, []byte("gzip")), bytes.EqualFold(name, []byte("x-gzip")):
			a.q[Gzip] = q
		case bytes.EqualFold(name, []byte("identity")):
			a.q[Identity] = q
			a.explicit = true
		case len(name) == 1 && name[0] == '*':
			a.star = q
		}
	}
	return a
}

// Quality is the effective q-value of a coding: its own, else the wildcard's, else 0.
func (a *Accepted) Quality(c Coding) int {
	if a.q[c] >= 0 {
		return a.q[c]
	}
	if a.star >= 0 {
		return a.star
	}
	return 0
}

// Pick chooses among the codings in have (identity is always available), trying
// them in the order prefer lists: a coding with a higher q-value wins, an earlier one
// wins a tie. A coding with q > 0 beats identity unless identity is listed by name
// with a higher q.
func (a *Accepted) Pick(have *Set, prefer []Coding) Coding {
	best, bestQ := Identity, 0
	for _, c := range prefer {
		if c == Identity || !have[c] {
			continue
		}
		if q := a.Quality(c); q > bestQ {
			best, bestQ = c, q
		}
	}
	if best != Identity && a.explicit && a.q[Identity] > bestQ {
		return Identity
	}
	return best
}

// parseQParams finds "q=" among ";"-separated parameters. No q means 1000.
func parseQParams(params []byte) (int, bool) {
	q := 1000
	for len(params) > 0 {
		var p []byte
		if i := bytes.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			p, params = params, nil
		}
		p = trimOWS(p)
		if len(p) >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=' {
			v, ok := parseQValue(p[2:])
			if !ok {
				return 0, false
			}
			q = v
		}
	}
	return q, true
}

// parseQValue parses an RFC 9110 qvalue ("0", "0.5", "1.000") into thousandths.
func parseQValue(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 5 || (b[0] != '0' && b[0] != '1') {
		return 0, false
	}
	v := int(b[0]-'0') * 1000
	if len(b) == 1 {
		return v, true
	}
	if b[1] != '.' {
		return 0, false
	}
	scale := 100
	for _, c := range b[2:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v += int(c-'0') * scale
		scale /= 10
	}
	if v > 1000 {
		return 0, false
	}
	return v, true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
