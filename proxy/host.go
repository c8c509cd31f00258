package proxy

import "strings"

// maxHostLen bounds the host names the router looks at; longer ones never match.
const maxHostLen = 255

// normalizeHost strips the port and a trailing dot from a Host header value and
// lowercases it into buf, returning the result (a sub-slice of buf or of host). It does
// not allocate. ok is false for values that cannot be a host name.
func normalizeHost(host []byte, buf *[maxHostLen]byte) (out []byte, ok bool) {
	if len(host) == 0 {
		return nil, false
	}
	if host[0] == '[' { // IPv6 literal, [::1]:8080
		end := -1
		for i, c := range host {
			if c == ']' {
				end = i
				break
			}
		}
		if end < 0 || (end+1 < len(host) && (host[end+1] != ':' || !allDigits(host[end+2:]))) {
			return nil, false
		}
		host = host[:end+1]
	} else {
		for i, c := range host {
			if c == ':' {
				if !allDigits(host[i+1:]) {
					return nil, false
				}
				host = host[:i]
				break
			}
		}
	}
	if n := len(host); n > 0 && host[n-1] == '.' {
		host = host[:n-1]
	}
	if len(host) == 0 || len(host) > maxHostLen || host[0] == '.' || host[len(host)-1] == '.' {
		return nil, false
	}
	lower := true
	for _, c := range host {
		if c >= 'A' && c <= 'Z' {
			lower = false
		}
		if c <= ' ' || c == '/' || c == '\\' || c >= 0x7f {
			return nil, false
		}
	}
	if lower {
		return host, true
	}
	for i, c := range host {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(host)], true
}

// validSiteHost accepts what a site may list: a lowercase DNS name, "*.name" or "*".
func validSiteHost(h string) bool {
	if h == "*" {
		return true
	}
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > maxHostLen {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// hostTable finds the site for a request host: exact name first, then the
// "*.parent" wildcard of its parent domain (one label deep), then the "*" site.
type hostTable struct {
	exact    map[string]*site
	wildcard map[string]*site // keyed by the parent, "example.com" for "*.example.com"
	any      *site
}

func newHostTable() hostTable {
	return hostTable{exact: map[string]*site{}, wildcard: map[string]*site{}}
}

func (t *hostTable) add(h string, s *site) {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	switch {
	case h == "*":
		t.any = s
	case strings.HasPrefix(h, "*."):
		t.wildcard[h[2:]] = s
	default:
		t.exact[h] = s
	}
}

// match returns the site for a raw Host header value, or nil.
func (t *hostTable) match(rawHost []byte) *site {
	var buf [maxHostLen]byte
	h, ok := normalizeHost(rawHost, &buf)
	if !ok {
		return t.any
	}
	if s := t.exact[string(h)]; s != nil {
		return s
	}
	for i, c := range h {
		if c == '.' {
			if i > 0 && i+1 < len(h) {
				if s := t.wildcard[string(h[i+1:])]; s != nil {
					return s
				}
			}
			break
		}
	}
	return t.any
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
