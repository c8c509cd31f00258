package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// requestTarget is where a request goes, as edge decided it from the request line and
// headers. Everything edge forwards is built from it, not from what the client's
// message still carries.
type requestTarget struct {
	host []byte // authority: from an absolute-form target, else the Host field
	uri  []byte // origin-form path and query, as sent upstream
	// trusted are the table's trusted_proxies, set by route: whose X-Forwarded-For
	// edge keeps in front of its own entry.
	trusted prefixList
}

// refusal is a request edge answers itself, with the reason for its debug log.
type refusal struct {
	status int
	why    string
}

// allowedMethods is the Allow header of a 405: what edge can proxy. (The app behind
// may allow fewer.)
const allowedMethods = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"

// admit checks that a request can be forwarded unambiguously and decides its target.
// The checks follow RFC 9110/9112 and nginx's choices:
//   - the body length must be unambiguous (badFraming);
//   - the header section must be clean (rawFields) with exactly one Host on HTTP/1.1;
//   - HTTP/1.0 and 1.1 are served, HTTP/1.2 to 1.9 are served as 1.1 (RFC 9110 §2.5,
//     nginx), HTTP/2 and later on this HTTP/1 connection get 505, anything else 400;
//   - CONNECT and TRACE get 405 (edge is no tunnel, and TRACE would echo cookies);
//   - the target is origin-form or absolute-form (http or https): an absolute-form
//     target wins over Host (RFC 9112 §3.2.2); userinfo in it or in Host is 400.
func admit(h *fasthttp.RequestHeader) (requestTarget, *refusal) {
	var t requestTarget
	if badFraming(h) {
		return t, &refusal{fasthttp.StatusBadRequest, "both Content-Length and Transfer-Encoding"}
	}
	proto := h.Protocol()
	if len(proto) != 8 || string(proto[:5]) != "HTTP/" || proto[6] != '.' || !isDigit(proto[5]) || !isDigit(proto[7]) {
		return t, &refusal{fasthttp.StatusBadRequest, "not an HTTP/x.y version"}
	}
	switch {
	case proto[5] != '1':
		return t, &refusal{fasthttp.StatusHTTPVersionNotSupported, "an HTTP version other than 1.x on an HTTP/1 connection"}
	case proto[7] > '1':
		h.SetProtocol("HTTP/1.1") // answered as 1.1, the highest minor version edge speaks
	}
	hosts, bad := checkRawHeaders(h.RawHeaders())
	if bad != "" {
		return t, &refusal{fasthttp.StatusBadRequest, bad}
	}
	if hosts > 1 || hosts == 0 && proto[7] != '0' {
		return t, &refusal{fasthttp.StatusBadRequest, "not exactly one Host field"}
	}
	m := h.Method()
	if caseEq(m, "connect") || caseEq(m, "trace") {
		return t, &refusal{fasthttp.StatusMethodNotAllowed, "a method edge does not proxy"}
	}
	host := h.Host()
	if bytes.IndexByte(host, '@') >= 0 {
		return t, &refusal{fasthttp.StatusBadRequest, "userinfo in the Host field"}
	}
	uri := h.RequestURI()
	if bytes.IndexByte(uri, '#') >= 0 {
		return t, &refusal{fasthttp.StatusBadRequest, "a fragment in the request target"}
	}
	if len(uri) > 0 && uri[0] == '/' {
		return requestTarget{host: host, uri: uri}, nil
	}
	return absoluteTarget(uri)
}

// absoluteTarget splits "http://host:port/path?q" into authority and origin-form.
func absoluteTarget(uri []byte) (requestTarget, *refusal) {
	var t requestTarget
	i := bytes.Index(uri, []byte("://"))
	if i < 0 || !(caseEq(uri[:i], "http") || caseEq(uri[:i], "https")) {
		return t, &refusal{fasthttp.StatusBadRequest, "a request target that is neither a path nor an http(s) URL"}
	}
	rest := uri[i+3:]
	end := 0
	for end < len(rest) && rest[end] != '/' && rest[end] != '?' {
		end++
	}
	t.host, t.uri = rest[:end], rest[end:]
	switch {
	case len(t.host) == 0:
		return t, &refusal{fasthttp.StatusBadRequest, "an absolute URL without a host"}
	case bytes.IndexByte(t.host, '@') >= 0:
		return t, &refusal{fasthttp.StatusBadRequest, "userinfo in the request target"}
	case len(t.uri) == 0:
		t.uri = []byte("/") // escapes only for this rare form
	case t.uri[0] == '?':
		t.uri = append([]byte("/"), t.uri...)
	}
	return t, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
