package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree by hand so every error carries its line and a sentence
// of our own, and so decoding goes on after an error to report all of them at once.
type decoder struct {
	file   string
	lookup func(string) (string, bool)
	errs   configErrors
	// unreadable are the keys whose value could not be decoded; validation skips them.
	unreadable map[string]bool
}

// bad records an error about the value of key where.
func (d *decoder) bad(n *yaml.Node, where, format string, args ...any) {
	d.unreadable[where] = true
	d.errorf(n, format, args...)
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, configError{File: d.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// mapping calls fields[key] for each key of n. Unknown and repeated keys are errors.
func (d *decoder) mapping(n *yaml.Node, where string, fields map[string]func(*yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		if isNull(n) {
			return
		}
		d.errorf(n, "%s must be a mapping of keys to values, not %s", where, describe(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			d.errorf(k, "key %q appears twice in %s", k.Value, where)
			continue
		}
		seen[k.Value] = true
		f, ok := fields[k.Value]
		if !ok {
			d.errorf(k, "unknown key %q in %s (known keys: %s)", k.Value, where, knownKeys(fields))
			continue
		}
		f(v)
	}
}

func knownKeys(fields map[string]func(*yaml.Node)) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if isNull(n) {
		return "empty"
	}
	return fmt.Sprintf("%q", n.Value)
}

// str decodes a scalar and expands ${VAR}. An empty value decodes to "".
func (d *decoder) str(n *yaml.Node, where string) string {
	if isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		d.bad(n, where, "%s must be a single value, not %s", where, describe(n))
		return ""
	}
	v, err := expandEnv(n.Value, d.lookup)
	if err != nil {
		d.bad(n, where, "%s: %v", where, err)
		return ""
	}
	return v
}

func (d *decoder) boolean(n *yaml.Node, where string) bool {
	s := d.str(n, where)
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true
	case "false", "no", "off", "":
		return false
	}
	d.bad(n, where, "%s must be true or false, not %q", where, s)
	return false
}

func (d *decoder) duration(n *yaml.Node, where string) time.Duration {
	s := d.str(n, where)
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		d.bad(n, where, "%s must be a positive duration such as 2s, 500ms or 1m, not %q", where, s)
		return 0
	}
	return v
}

func (d *decoder) positiveInt(n *yaml.Node, where string) int {
	s := d.str(n, where)
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		d.bad(n, where, "%s must be a whole number of at least 1, not %q", where, s)
		return 0
	}
	return v
}

// strList accepts a list of values, or one value as a list of one.
func (d *decoder) strList(n *yaml.Node, where string) []string {
	if n.Kind == yaml.ScalarNode {
		if isNull(n) {
			return nil
		}
		return []string{d.str(n, where)}
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s must be a list of values, not %s", where, describe(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, item := range n.Content {
		out = append(out, d.str(item, where))
	}
	return out
}

// sequence calls each for every item of a list.
func (d *decoder) sequence(n *yaml.Node, where string, each func(i int, item *yaml.Node)) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s must be a list, not %s", where, describe(n))
		return
	}
	for i, item := range n.Content {
		each(i, item)
	}
}
