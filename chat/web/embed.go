// Package web holds the chat's browser UI, embedded into the binary: the chat page
// (index.html), the embeddable widget (widget.js) and their assets. The chat package
// serves these files; this package only owns them.
//
// Layout (paths inside FS):
//
//	static/index.html          the chat page, served at GET {mount}
//	static/widget.js           the embed script, served at GET {mount}widget.js
//	static/app.js, app.css     loaded by index.html as {mount}static/app.js …
//	static/avatars/<key>.svg   one image per avatar key, a01 … a24 (see docs/chat-ui.md)
package web

import "embed"

//go:generate go run gen_avatars.go

// FS holds everything under static/. Paths: "static/index.html", "static/widget.js", …
//
//go:embed static
var FS embed.FS
