package config

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
// Each value helper takes the *Pos to record the value's line in (nil when nothing
// reports about that value later) and marks it Bad when the value does not decode.
type decoder struct {
	file   string
	lookup func(string) (string, bool)
	errs   Errors
}

// field decodes the value of one key; path is the key's dotted path, for messages.
type field func(v *yaml.Node, path string)

// record notes that the value at is read from node n.
func record(n *yaml.Node, at *Pos) {
	if at != nil {
		at.Line = n.Line
	}
}

// bad records an error about the value at.
func (d *decoder) bad(n *yaml.Node, at *Pos, format string, args ...any) {
	if at != nil {
		at.Bad = true
	}
	d.errorf(n, format, args...)
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, Error{File: d.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// mapping calls fields[key] for each key of n, with the key's path under prefix
// ("" for the top level). Unknown and repeated keys are errors.
func (d *decoder) mapping(n *yaml.Node, prefix string, fields map[string]field) {
	where := prefix
	if where == "" {
		where = "the top level"
	}
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
		path := k.Value
		if prefix != "" {
			path = prefix + "." + k.Value
		}
		f(v, path)
	}
}

func knownKeys(fields map[string]field) string {
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
func (d *decoder) str(n *yaml.Node, where string, at *Pos) string {
	record(n, at)
	if isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		d.bad(n, at, "%s must be a single value, not %s", where, describe(n))
		return ""
	}
	v, err := expandEnv(n.Value, d.lookup)
	if err != nil {
		d.bad(n, at, "%s: %v", where, err)
		return ""
	}
	return v
}

func (d *decoder) boolean(n *yaml.Node, where string, at *Pos) bool {
	s := d.str(n, where, at)
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true
	case "false", "no", "off", "":
		return false
	}
	d.bad(n, at, "%s must be true or false, not %q", where, s)
	return false
}

func (d *decoder) duration(n *yaml.Node, where string, at *Pos) time.Duration {
	s := d.str(n, where, at)
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		d.bad(n, at, "%s must be a positive duration such as 2s, 500ms or 1m, not %q", where, s)
		return 0
	}
	return v
}

func (d *decoder) positiveInt(n *yaml.Node, where string, at *Pos) int {
	s := d.str(n, where, at)
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		d.bad(n, at, "%s must be a whole number of at least 1, not %q", where, s)
		return 0
	}
	return v
}

// strList accepts a list of values, or one value as a list of one. at is the list's
// position (Bad if any item is); items, when not nil, gets each item's position.
func (d *decoder) strList(n *yaml.Node, where string, at *Pos, items *[]Pos) []string {
	record(n, at)
	if n.Kind == yaml.ScalarNode {
		if isNull(n) {
			return nil
		}
		return []string{d.item(n, where, at, items)}
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s must be a list of values, not %s", where, describe(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, item := range n.Content {
		out = append(out, d.item(item, where, at, items))
	}
	return out
}

// item decodes one value of a list, recording its own line in items and a failure in
// the list's at.
func (d *decoder) item(n *yaml.Node, where string, at *Pos, items *[]Pos) string {
	var p Pos
	v := d.str(n, where, &p)
	if p.Bad && at != nil {
		at.Bad = true
	}
	if items != nil {
		*items = append(*items, Pos{Line: n.Line})
	}
	return v
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
