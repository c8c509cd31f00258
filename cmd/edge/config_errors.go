package main

import (
	"fmt"
	"strings"
)

// configError is one problem in a config file, always with the line it is on.
type configError struct {
	File string
	Line int
	Msg  string
}

func (e configError) Error() string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// configErrors is every problem found, in file order, so an operator fixes them in one go.
type configErrors []configError

func (es configErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
