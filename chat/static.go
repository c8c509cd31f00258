package chat

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/edge-server/edge/chat/web"
	"github.com/valyala/fasthttp"
)

// assets are the embedded web files, read once with their content type and ETag.
type assets struct {
	files map[string]*asset // by path under static/, e.g. "index.html", "avatars/a01.svg"
}

type asset struct {
	body  []byte
	ctype string
	etag  string
}

var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "application/javascript; charset=utf-8",
	".mjs":   "application/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".svg":   "image/svg+xml",
	".json":  "application/json",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".webp":  "image/webp",
	".woff2": "font/woff2",
	".txt":   "text/plain; charset=utf-8",
	".map":   "application/json",
}

func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if ct, ok := contentTypes[ext]; ok {
		return ct
	}
	if ct := mime.TypeByExtension(ext); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

func loadAssets(fsys fs.FS) (*assets, error) {
	if fsys == nil {
		fsys = web.FS
	}
	a := &assets{files: map[string]*asset{}}
	err := fs.WalkDir(fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a.files[strings.TrimPrefix(p, "static/")] = &asset{
			body: body, ctype: contentType(p), etag: `"` + hex.EncodeToString(sum[:12]) + `"`,
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the embedded chat UI: %w", err)
	}
	if a.files["index.html"] == nil {
		return nil, fmt.Errorf("the embedded chat UI has no static/index.html")
	}
	return a, nil
}

// serve writes one asset with its ETag, answering If-None-Match with 304.
func (a *asset) serve(ctx *fasthttp.RequestCtx, cacheControl string) {
	h := &ctx.Response.Header
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", cacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 && etagMatch(string(inm), a.etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	h.SetContentType(a.ctype)
	if ctx.IsHead() {
		h.SetContentLength(len(a.body))
		return
	}
	ctx.SetBody(a.body)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
