package proxy

// rawFields walks the header section of a request exactly as the client sent it
// (fasthttp's RawHeaders: the lines after the request line, up to the empty line).
// Trailer fields of a chunked body are not in it, which is why edge builds the
// upstream request from it and not from fasthttp's parsed header (fasthttp appends
// trailers to that one, RFC 9110 §6.5.1 says they must not be merged).
//
// It is strict where fasthttp is lenient, and stops at the first line that breaks
// RFC 9112 §5: a line folded onto the previous one (obs-fold), whitespace between
// the name and the colon, a name that is not a token, a bare CR, or a control
// character (NUL included) in a value. A line may end in CRLF or a bare LF (RFC 9112
// §2.2 lets a recipient accept LF).
type rawFields struct {
	b    []byte
	k, v []byte
	bad  string // why the section was refused; "" while it is fine
}

func (r *rawFields) next() bool {
	if r.bad != "" || len(r.b) == 0 {
		return false
	}
	i := 0
	for i < len(r.b) && r.b[i] != '\n' {
		i++
	}
	if i == len(r.b) {
		r.bad = "header section does not end with an empty line"
		return false
	}
	line := r.b[:i]
	r.b = r.b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) == 0 {
		r.b = nil // the empty line ends the section
		return false
	}
	if line[0] == ' ' || line[0] == '\t' {
		r.bad = "obsolete line folding in a header field"
		return false
	}
	colon := 0
	for colon < len(line) && line[colon] != ':' {
		if !isTokenChar(line[colon]) {
			if line[colon] == ' ' || line[colon] == '\t' {
				r.bad = "whitespace before the colon of a header field"
			} else {
				r.bad = "a header field name that is not a token"
			}
			return false
		}
		colon++
	}
	if colon == 0 || colon == len(line) {
		r.bad = "a header line without a name and colon"
		return false
	}
	v := line[colon+1:]
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			r.bad = "a control character in a header field value"
			return false
		}
	}
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	r.k, r.v = line[:colon], v
	return true
}

// isTokenChar reports the tchar set of RFC 9110 §5.6.2.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// checkRawHeaders reads a whole header section and says what is wrong with it, or
// "". It also counts the Host fields, which RFC 9112 §3.2 wants exactly once.
func checkRawHeaders(raw []byte) (hosts int, bad string) {
	r := rawFields{b: raw}
	for r.next() {
		if caseEq(r.k, "host") {
			hosts++
		}
	}
	return hosts, r.bad
}
