package chat

import (
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// validID reports whether s matches [A-Za-z0-9_.:-]{1,64}; used for room ids and client ids.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '.', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

func checkRoom(room string) *Error {
	if !validID(room) {
		return errorf(CodeInvalidRoom, "room ids are 1 to 64 characters of A-Z a-z 0-9 _ . : -")
	}
	return nil
}

// cleanContent trims surrounding white space and checks 1..max characters of valid UTF-8
// without NUL or other control characters except newline and tab. Content made only of
// characters nobody can see (white space, format characters such as zero-width
// space/joiner, BOM and bidi overrides/isolates, Hangul fillers, variation selectors)
// is refused like empty content: it would render as a blank message.
func cleanContent(s string, max int) (string, *Error) {
	if !utf8.ValidString(s) {
		return "", errorf(CodeInvalidContent, "content is not valid UTF-8")
	}
	s = strings.TrimSpace(s)
	n, visible := 0, false
	for _, r := range s {
		n++
		if r == utf8.RuneError || (unicode.IsControl(r) && r != '\n' && r != '\t') {
			return "", errorf(CodeInvalidContent, "content contains control or replacement characters")
		}
		visible = visible || !invisible(r)
	}
	if n == 0 {
		return "", errorf(CodeInvalidContent, "content is empty")
	}
	if !visible {
		return "", errorf(CodeInvalidContent, "content has no visible characters")
	}
	if n > max {
		return "", errorf(CodeInvalidContent, "content is %d characters; the limit is %d", n, max)
	}
	return s, nil
}

// invisible reports whether r renders as nothing: white space, a format character (Cf:
// U+200B-U+200F, U+202A-U+202E, U+2060-U+2064, U+2066-U+2069, U+FEFF, ...) or another
// default-ignorable code point (U+115F, U+1160, U+3164, U+FFA0, variation selectors).
func invisible(r rune) bool {
	return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) ||
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) || unicode.Is(unicode.Variation_Selector, r)
}

// bucket is a token bucket; not safe for concurrent use (each connection's reader owns its own).
type bucket struct {
	tokens float64
	last   int64 // unix nanoseconds of the last refill
}

// take refills at rate tokens/s up to burst and takes one token if there is one.
func (b *bucket) take(now int64, rate float64, burst int) bool {
	if b.last == 0 {
		b.tokens = float64(burst)
	} else if el := now - b.last; el > 0 {
		b.tokens += float64(el) / float64(time.Second) * rate
		if b.tokens > float64(burst) {
			b.tokens = float64(burst)
		}
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// normalizeOrigin returns "scheme://host[:port]" lower-cased, or "" if o is not an origin.
func normalizeOrigin(o string) string {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}
