package static

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Config serves a directory of files. Its NewHandler builds the handler that a proxy
// route mounts (proxy.Mount), so proxy does not depend on this package.
type Config struct {
	// Root is the directory. Required.
	Root string
	// SPA falls back to /index.html for extension-less paths with no file. Default false.
	SPA bool
	// ImmutableCacheControl is sent for hashed asset names.
	// Default "public, max-age=31536000, immutable".
	ImmutableCacheControl string
	// CacheControl is sent for every other file. Default "no-cache".
	CacheControl string
	// Compress enables on-the-fly compression of text types when no precompressed
	// sibling exists. Default true (set by the config decoder; the zero value here means off).
	Compress bool
}

// NewHandler serves files under c.Root for a route mounted at prefix. The proxy calls it
// on every build of its route table (start and each reload), so each gets a fresh cache.
func (c *Config) NewHandler(prefix string, log *zap.Logger) (fasthttp.RequestHandler, error) {
	return newStaticHandler(prefix, *c, log)
}

// Defaults of Config, and limits of the static file server.
const (
	defaultImmutableCacheControl = "public, max-age=31536000, immutable"
	defaultCacheControl          = "no-cache"

	// staticRevalidate: a cached file is checked against the disk (symlinks, inode,
	// size, mtime) at most this often, so a deploy is visible within this delay.
	staticRevalidate = time.Second
	// staticIdleEvict: entries not requested for this long may be dropped when the
	// memory budget or the entry limit is reached.
	staticIdleEvict = 30 * time.Second
	// staticMaxMemFile: files up to this size are held in memory; bigger ones are
	// streamed from disk with sendfile and never compressed on the fly.
	staticMaxMemFile = 1 << 20
	// staticMinSendfile: files held in memory from this size on are kept in a sealed
	// memfd and sent with sendfile (no copy through user space); smaller ones are a Go
	// slice written with the header. See docs/benchmarks.md for the measurements.
	staticMinSendfile = 64 << 10
	// staticMemBudget bounds the bytes of file contents and compressed copies held
	// in memory per static route. Files that do not fit are streamed from disk.
	staticMemBudget = 64 << 20
	// staticMaxEntries bounds the number of cached request keys per static route.
	staticMaxEntries = 16384
	// staticMinCompress: smaller files are not compressed on the fly (the saving is
	// below one packet).
	staticMinCompress = 1024
)

// staticHandler serves one static route. See docs/static.md for the rules.
type staticHandler struct {
	log         *zap.Logger
	base        string // route prefix without its trailing slash ("" for "/")
	rootAbs     string
	spa         bool
	compress    bool
	immutableCC []byte
	cacheCC     []byte

	ttl         int64 // staticRevalidate in ns; tests shorten it
	maxMemFile  int64
	minSendfile int64
	minCompress int64

	epoch time.Time
	root  atomic.Pointer[rootState]
	cache *staticCache
}

// newStaticHandler serves files under cfg.Root for a route mounted at prefix.
func newStaticHandler(prefix string, cfg Config, log *zap.Logger) (fasthttp.RequestHandler, error) {
	h, err := newStaticFiles(prefix, cfg, log)
	if err != nil {
		return nil, err
	}
	return h.serve, nil
}

func newStaticFiles(prefix string, cfg Config, log *zap.Logger) (*staticHandler, error) {
	if prefix == "" || prefix[0] != '/' {
		return nil, fmt.Errorf("static route prefix %q must start with /", prefix)
	}
	if cfg.Root == "" {
		return nil, fmt.Errorf("static route %s: root directory is required", prefix)
	}
	if log == nil {
		log = zap.NewNop()
	}
	rootAbs, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("static route %s: resolving root %q: %w", prefix, cfg.Root, err)
	}
	h := &staticHandler{
		log:         log.Named("static").With(zap.String("route", prefix), zap.String("root", rootAbs)),
		base:        strings.TrimSuffix(prefix, "/"),
		rootAbs:     rootAbs,
		spa:         cfg.SPA,
		compress:    cfg.Compress,
		immutableCC: []byte(orDefault(cfg.ImmutableCacheControl, defaultImmutableCacheControl)),
		cacheCC:     []byte(orDefault(cfg.CacheControl, defaultCacheControl)),
		ttl:         int64(staticRevalidate),
		maxMemFile:  staticMaxMemFile,
		minSendfile: staticMinSendfile,
		minCompress: staticMinCompress,
		epoch:       time.Now(),
	}
	h.cache = newStaticCache(staticMaxEntries, staticMemBudget, h.clock, int64(staticIdleEvict))
	if _, err := h.realRoot(0); err != nil {
		h.log.Warn("static directory is not there yet; its routes answer 404 until it appears", zap.Error(err))
	}
	return h, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (h *staticHandler) clock() int64 { return int64(time.Since(h.epoch)) }

// now reads the request's start time (already taken by fasthttp) on the handler clock.
func (h *staticHandler) now(ctx *fasthttp.RequestCtx) int64 {
	t := ctx.Time()
	if t.IsZero() {
		return h.clock()
	}
	return int64(t.Sub(h.epoch))
}

// serve is the route's fasthttp handler.
func (h *staticHandler) serve(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Error("Method Not Allowed", fasthttp.StatusMethodNotAllowed)
		ctx.Response.Header.SetCanonical(hdrAllow, valAllow)
		return
	}
	full := ctx.Path()
	if len(full) < len(h.base) || string(full[:len(h.base)]) != h.base {
		ctx.Error("Not Found", fasthttp.StatusNotFound)
		return
	}
	rel := full[len(h.base):]
	if len(rel) == 0 {
		h.redirectDir(ctx, nil)
		return
	}
	if rel[0] != '/' {
		ctx.Error("Not Found", fasthttp.StatusNotFound)
		return
	}
	var buf [256]byte
	key, verdict := cleanStaticPath(buf[:0], rel)
	switch verdict {
	case pathBad:
		h.refused(ctx, rel, fasthttp.StatusBadRequest, "Bad Request")
		return
	case pathHidden:
		h.refused(ctx, rel, fasthttp.StatusNotFound, "Not Found")
		return
	case pathTooLong:
		h.refused(ctx, rel, fasthttp.StatusRequestURITooLong, "URI Too Long")
		return
	}
	now := h.now(ctx)
	for attempt := 0; attempt < 2; attempt++ {
		e, kind, err := h.entry(key, now)
		switch {
		case err != nil:
			h.failed(ctx, key, err)
			return
		case kind == lookupDirRedirect:
			h.redirectDir(ctx, key)
			return
		case kind == lookupMissing && h.spa && !hasExtension(key):
			e, kind, err = h.entry(spaKey, now)
			if err != nil || kind != lookupFound {
				ctx.Error("Not Found", fasthttp.StatusNotFound)
				return
			}
		case kind == lookupMissing:
			ctx.Error("Not Found", fasthttp.StatusNotFound)
			return
		}
		if err := h.respond(ctx, e); !errors.Is(err, errRetired) {
			return
		}
		// The entry was replaced between lookup and sending: look it up again.
	}
	ctx.Error("Service Unavailable", fasthttp.StatusServiceUnavailable)
}

var spaKey = []byte("/" + indexName)

// entry returns the fresh cache entry for key, loading or revalidating as needed.
func (h *staticHandler) entry(key []byte, now int64) (*staticEntry, lookupKind, error) {
	e := h.cache.get(key)
	if e == nil {
		k := string(key)
		return h.load(k, h.resolve(k, now), now)
	}
	last := e.checked.Load()
	if now-last < h.ttl || !e.checked.CompareAndSwap(last, now) {
		return e, lookupFound, nil // fresh, or another request is revalidating it
	}
	k := string(key)
	t := h.resolve(k, now)
	if t.kind == lookupFound && sameSources(&t.files, &e.sources) {
		return e, lookupFound, nil
	}
	h.cache.remove(k, e)
	return h.load(k, t, now)
}

// load builds and caches the entry for a resolved key.
func (h *staticHandler) load(k string, t target, now int64) (*staticEntry, lookupKind, error) {
	for attempt := 0; ; attempt++ {
		if t.kind != lookupFound {
			return nil, t.kind, nil
		}
		e, err := h.buildEntry(k, &t, now)
		if errors.Is(err, errChanged) && attempt < 2 {
			t = h.resolve(k, now)
			continue
		}
		if err != nil {
			return nil, lookupMissing, err
		}
		return h.cache.add(k, e), lookupFound, nil
	}
}

func sameSources(a, b *[numEncodings]fileID) bool {
	for i := range a {
		if !a[i].same(b[i]) {
			return false
		}
	}
	return true
}

func (h *staticHandler) redirectDir(ctx *fasthttp.RequestCtx, key []byte) {
	loc := make([]byte, 0, len(h.base)+len(key)+2)
	loc = append(loc, h.base...)
	loc = append(loc, key...)
	loc = append(loc, '/')
	if q := ctx.URI().QueryString(); len(q) > 0 {
		loc = append(loc, '?')
		loc = append(loc, q...)
	}
	ctx.Response.Header.SetCanonical(hdrLocation, loc)
	ctx.SetStatusCode(fasthttp.StatusMovedPermanently)
}

func (h *staticHandler) refused(ctx *fasthttp.RequestCtx, rel []byte, code int, msg string) {
	if ce := h.log.Check(zapcore.DebugLevel, "static: refused request path"); ce != nil {
		ce.Write(zap.ByteString("path", rel), zap.Int("status", code))
	}
	ctx.Error(msg, code)
}

func (h *staticHandler) failed(ctx *fasthttp.RequestCtx, key []byte, err error) {
	if errors.Is(err, os.ErrPermission) {
		if ce := h.log.Check(zapcore.WarnLevel, "static: permission denied"); ce != nil {
			ce.Write(zap.String("path", string(key)), zap.Error(err))
		}
		ctx.Error("Forbidden", fasthttp.StatusForbidden)
		return
	}
	if ce := h.log.Check(zapcore.ErrorLevel, "static: cannot serve file"); ce != nil {
		ce.Write(zap.String("path", string(key)), zap.Error(err))
	}
	ctx.Error("Internal Server Error", fasthttp.StatusInternalServerError)
}
