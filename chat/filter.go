package chat

import (
	"fmt"
	"regexp"
	"strings"
)

// FilterConfig is the optional word filter on sent messages. Hub.SetFilter replaces it
// while running (edge reload).
type FilterConfig struct {
	// Words are matched case-insensitively: as whole words when they are plain ASCII
	// letters and digits, as substrings otherwise (scripts without spaces between words).
	Words []string
	// Patterns are RE2 regular expressions (https://github.com/google/re2/wiki/Syntax),
	// matched anywhere in the content; add (?i) for case-insensitive ones.
	Patterns []string
	// Action is what happens to a matching message: "reject" (the sender gets an error
	// frame with code "filtered"; nothing is stored) or "hold" (it is kept for review,
	// the sender gets code "held", nobody else sees it until `edge chat approve`).
	// Default "reject".
	Action string
}

// Check reports what is wrong with the filter ("filter action …", "filter pattern …").
func (fc FilterConfig) Check() error {
	_, err := newFilter(fc)
	return err
}

// filter is a compiled FilterConfig; nil matches nothing.
type filter struct {
	re   *regexp.Regexp
	hold bool
}

func newFilter(fc FilterConfig) (*filter, error) {
	switch fc.Action {
	case "", "reject", "hold":
	default:
		return nil, fmt.Errorf("filter action %q must be reject or hold", fc.Action)
	}
	var alts []string
	for _, w := range fc.Words {
		w = strings.TrimSpace(w)
		if w == "" {
			return nil, fmt.Errorf("filter words must not be empty")
		}
		q := regexp.QuoteMeta(w)
		if isASCIIWord(w) {
			q = `\b` + q + `\b`
		}
		alts = append(alts, "(?i:"+q+")")
	}
	for _, p := range fc.Patterns {
		if _, err := regexp.Compile(p); err != nil {
			return nil, fmt.Errorf("filter pattern %q: %w", p, err)
		}
		alts = append(alts, "(?:"+p+")")
	}
	if len(alts) == 0 {
		return nil, nil
	}
	re, err := regexp.Compile(strings.Join(alts, "|"))
	if err != nil {
		return nil, fmt.Errorf("compiling the filter: %w", err)
	}
	return &filter{re: re, hold: fc.Action == "hold"}, nil
}

func isASCIIWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

var errFiltered = &Error{Code: CodeFiltered, Message: "this message contains words this chat does not allow; it was not sent"}

// check reports whether content matches, and whether it is to be held rather than refused.
func (f *filter) check(content string) (match, hold bool) {
	if f == nil || !f.re.MatchString(content) {
		return false, false
	}
	return true, f.hold
}

// SetFilter replaces the word filter (edge reload). An invalid filter leaves the running
// one in place.
func (h *Hub) SetFilter(fc FilterConfig) error {
	f, err := newFilter(fc)
	if err != nil {
		return fmt.Errorf("chat filter: %w", err)
	}
	h.mod.filter.Store(f)
	return nil
}
