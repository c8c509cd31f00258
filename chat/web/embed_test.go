package web

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// The chat core serves these exact paths; renaming one breaks the page.
func TestFSHasServedFiles(t *testing.T) {
	for _, name := range []string{"static/index.html", "static/widget.js", "static/app.js", "static/app.css"} {
		b, err := fs.ReadFile(FS, name)
		if err != nil {
			t.Fatalf("reading %s: %v", name, err)
		}
		if len(b) == 0 {
			t.Fatalf("%s is empty", name)
		}
	}
}

// index.html loads its assets relative to the mount, so the page works at any mount path.
func TestIndexReferencesAssetsRelatively(t *testing.T) {
	b, err := fs.ReadFile(FS, "static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{`href="static/app.css"`, `src="static/app.js"`} {
		if !bytes.Contains(b, []byte(ref)) {
			t.Errorf("index.html lacks %s", ref)
		}
	}
	if bytes.Contains(b, []byte("<script>")) || bytes.Contains(b, []byte("style=")) {
		t.Error("index.html has inline script or style; keep it CSP-friendly")
	}
}

// Every avatar key a01..a24 has a well-formed SVG image (contract in docs/chat-ui.md).
func TestAvatarsForEveryKey(t *testing.T) {
	for i := 1; i <= 24; i++ {
		name := fmt.Sprintf("static/avatars/a%02d.svg", i)
		b, err := fs.ReadFile(FS, name)
		if err != nil {
			t.Fatalf("avatar %s: %v", name, err)
		}
		d := xml.NewDecoder(bytes.NewReader(b))
		root := ""
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s is not well-formed XML: %v", name, err)
			}
			if se, ok := tok.(xml.StartElement); ok && root == "" {
				root = se.Name.Local
			}
		}
		if root != "svg" {
			t.Fatalf("%s: root element %q, want svg", name, root)
		}
		if bytes.Contains(bytes.ToLower(b), []byte("<script")) || bytes.Contains(b, []byte("href")) {
			t.Fatalf("%s must be a plain drawing (no script, no links)", name)
		}
	}
	entries, err := fs.ReadDir(FS, "static/avatars")
	if err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`^a(0[1-9]|1[0-9]|2[0-4])\.svg$`)
	for _, e := range entries {
		if !key.MatchString(e.Name()) {
			t.Errorf("unexpected file static/avatars/%s outside the a01..a24 contract", e.Name())
		}
	}
}

// The page stays small: all JS and CSS together under 30 KiB uncompressed.
func TestPageWeight(t *testing.T) {
	total := 0
	for _, name := range []string{"static/app.js", "static/app.css", "static/widget.js"} {
		b, err := fs.ReadFile(FS, name)
		if err != nil {
			t.Fatal(err)
		}
		total += len(b)
	}
	if total > 30*1024 {
		t.Fatalf("page JS+CSS is %d bytes, budget 30 KiB", total)
	}
}

// User content must only ever reach the DOM as text. A cheap guard against regressions; the
// browser tests (e2e/chat.spec.mjs) check the real behaviour with hostile messages.
func TestNoHTMLSinksInScripts(t *testing.T) {
	sinks := []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"}
	for _, name := range []string{"static/app.js", "static/widget.js"} {
		b, err := fs.ReadFile(FS, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sinks {
			if strings.Contains(string(b), s) {
				t.Errorf("%s uses %s", name, s)
			}
		}
	}
}
