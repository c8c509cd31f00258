// Package web holds the chat's browser UI, embedded into the binary: the chat page
// (index.html), the embeddable widget (widget.js) and their assets. The chat package
// serves these files; this package only owns them.
package web

import "embed"

// FS holds everything under static/. Paths: "static/index.html", "static/widget.js", …
//
//go:embed static
var FS embed.FS
