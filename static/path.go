package static

import (
	"strings"
	"unicode/utf8"
)

// pathVerdict is what cleanStaticPath decided about a request path.
type pathVerdict uint8

const (
	// pathOK: the returned path is canonical and safe to join to the root.
	pathOK pathVerdict = iota
	// pathBad (400): NUL or other control bytes, a backslash, a '%' left after the
	// server's percent-decoding (double encoding), invalid UTF-8, or a "." / ".." segment.
	pathBad
	// pathHidden (404): a segment starts with '.' (dotfile or dot-directory), other than
	// a leading ".well-known".
	pathHidden
	// pathTooLong (414): the path or one of its segments is longer than the limits below.
	pathTooLong
)

const (
	// maxStaticPath bounds the route-relative path in bytes.
	maxStaticPath = 2048
	// maxStaticSegment bounds one path segment (NAME_MAX on Linux).
	maxStaticSegment = 255
	// wellKnown is the one dot-directory that is served (RFC 8615), and only as the
	// first segment below the route's root.
	wellKnown = ".well-known"
)

// cleanStaticPath validates p, a route-relative request path as fasthttp delivers it
// (already percent-decoded and dot-segment-resolved unless the server disables path
// normalizing), and returns its canonical form: exactly one leading '/', no empty
// segments, a trailing '/' kept when p had one.
//
// It refuses rather than repairs anything suspicious: it never resolves ".." itself.
// When p is already canonical the result aliases p and nothing is allocated;
// otherwise the canonical form is appended to dst[:0].
func cleanStaticPath(dst, p []byte) ([]byte, pathVerdict) {
	if len(p) > maxStaticPath {
		return nil, pathTooLong
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f || c == '\\' || c == '%' {
			return nil, pathBad
		}
	}
	if !utf8.Valid(p) {
		return nil, pathBad
	}
	canonical := len(p) > 0 && p[0] == '/'
	verdict := pathOK
	segIndex := 0
	for i := 0; i < len(p); {
		if p[i] == '/' {
			if i > 0 && p[i-1] == '/' {
				canonical = false // empty segment
			}
			i++
			continue
		}
		j := i
		for j < len(p) && p[j] != '/' {
			j++
		}
		seg := p[i:j]
		if len(seg) > maxStaticSegment {
			return nil, pathTooLong
		}
		if seg[0] == '.' {
			switch {
			case len(seg) == 1 || (len(seg) == 2 && seg[1] == '.'):
				return nil, pathBad
			case segIndex == 0 && string(seg) == wellKnown:
			default:
				// Keep scanning: a later ".." must still be reported as pathBad.
				verdict = pathHidden
			}
		}
		segIndex++
		i = j
	}
	if verdict != pathOK {
		return nil, verdict
	}
	if canonical {
		return p, pathOK
	}
	return appendCanonicalPath(dst[:0], p), pathOK
}

// appendCanonicalPath appends p with one leading slash and no empty segments.
func appendCanonicalPath(dst, p []byte) []byte {
	dst = append(dst, '/')
	for _, c := range p {
		if c == '/' && dst[len(dst)-1] == '/' {
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// hasHiddenSegment reports whether a slash-separated path relative to the root
// (with or without a leading slash) has a segment starting with '.', apart from a
// leading ".well-known". It checks where a file resolved to, after symlinks.
func hasHiddenSegment(rel string) bool {
	first := true
	for seg := range strings.SplitSeq(rel, "/") {
		if seg == "" {
			continue
		}
		if seg[0] == '.' && (!first || seg != wellKnown) {
			return true
		}
		first = false
	}
	return false
}

// hasExtension reports whether the last segment of a canonical path contains a '.'
// (after its first byte, which is never '.' for a valid path). SPA fallback applies
// only to extension-less paths: "/users/42" falls back, "/app.js" is a real 404.
func hasExtension(p []byte) bool {
	end := len(p)
	if end > 0 && p[end-1] == '/' {
		end--
	}
	for i := end - 1; i >= 0 && p[i] != '/'; i-- {
		if p[i] == '.' {
			return true
		}
	}
	return false
}

// Hashed asset names get the immutable Cache-Control. The rule, applied to the last
// path segment of the request URL:
//
//	name = stem '.' rest         split at ANY '.' in name (rest is non-empty)
//	stem = head SEP token        SEP is the last '-' or '.' in stem, head is non-empty
//	token: 8..64 bytes of [A-Za-z0-9_], at least one ASCII digit and one ASCII letter,
//	       and not only digits and 'x'/'X' (so "icon-512x512.png" is not a hash)
//
// Matches: index-3f2a9c1b.js (Vite/Rollup), index-BRcx7a2Q.css, main.8a3d9f1c.js and
// 787.5e2a6c1f.chunk.js (webpack/CRA), index-3f2a9c1b.js.map.
// Does not match: index.html, app.js, favicon.ico, jquery-3.7.1.min.js,
// apple-touch-icon.png, logo-1024x1024.png, report-2024.pdf (token too short).
// A Rollup hash that happens to contain '-' (about 12% of 8-char hashes) or no digit
// (about 26%) is not recognised: that file gets the revalidating Cache-Control, which
// costs a 304 round trip but can never serve stale content. A hand-made name such as
// "font-Roboto2023.woff2" would be treated as hashed; rename such files or put them
// under a route with its own ImmutableCacheControl.
func isHashedName(name string) bool {
	for dot := 1; dot < len(name)-1; dot++ {
		if name[dot] != '.' {
			continue
		}
		stem := name[:dot]
		sep := strings.LastIndexAny(stem, "-.")
		if sep < 1 {
			continue
		}
		if isHashToken(stem[sep+1:]) {
			return true
		}
	}
	return false
}

func isHashToken(t string) bool {
	if len(t) < 8 || len(t) > 64 {
		return false
	}
	digits, letters, dimension := false, false, true
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letters = true
			if c != 'x' && c != 'X' {
				dimension = false
			}
		case c == '_':
			dimension = false
		default:
			return false
		}
	}
	return digits && letters && !dimension
}

// lastSegment returns the last segment of a canonical path ("" for a directory path).
func lastSegment(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}
