package static

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// indexName is served for directory paths.
const indexName = "index.html"

// errChanged: the file was replaced between stat and open; resolve again.
var errChanged = errors.New("file changed while opening it")

// fileID names one version of a file: its resolved path and what stat said about it.
// A zero fileID means "no such file" (e.g. no .br sibling).
type fileID struct {
	path string
	info os.FileInfo
}

func (a fileID) same(b fileID) bool {
	if a.path != b.path || (a.info == nil) != (b.info == nil) {
		return false
	}
	return a.info == nil || (os.SameFile(a.info, b.info) &&
		a.info.Size() == b.info.Size() && a.info.ModTime().Equal(b.info.ModTime()))
}

type lookupKind uint8

const (
	lookupFound       lookupKind = iota
	lookupMissing                // no such file, refused symlink, hidden target, not a regular file
	lookupDirRedirect            // a directory with an index, requested without the trailing slash
)

// target is where a request key leads on disk.
type target struct {
	kind  lookupKind
	files [numEncodings]fileID // identity plus precompressed siblings (zero when absent)
	name  string               // file name that decides the Content-Type
}

type rootState struct {
	real    string
	err     error
	checked int64
}

// realRoot returns the root with all symlinks resolved, re-resolving it at most once
// per TTL so that a deploy that flips a "current -> releases/N" symlink is picked up.
func (h *staticHandler) realRoot(now int64) (string, error) {
	if st := h.root.Load(); st != nil && now-st.checked < h.ttl {
		return st.real, st.err
	}
	real, err := filepath.EvalSymlinks(h.rootAbs)
	if err == nil {
		var fi os.FileInfo
		if fi, err = os.Stat(real); err == nil && !fi.IsDir() {
			err = fmt.Errorf("static root %s is not a directory", real)
		}
	}
	h.root.Store(&rootState{real: real, err: err, checked: now})
	return real, err
}

// resolve maps a canonical key ("/", "/a/b.js", "/docs/") to files under the root.
func (h *staticHandler) resolve(key string, now int64) target {
	root, err := h.realRoot(now)
	if err != nil {
		return target{kind: lookupMissing}
	}
	dirWanted := strings.HasSuffix(key, "/")
	cand := root + strings.TrimSuffix(key, "/")
	if root == "/" {
		cand = strings.TrimSuffix(key, "/")
		if cand == "" {
			cand = "/"
		}
	}
	id, ok := h.resolveInRoot(root, cand)
	if !ok {
		return target{kind: lookupMissing}
	}
	name := lastSegment(strings.TrimSuffix(key, "/"))
	if id.info.IsDir() {
		cand = strings.TrimSuffix(cand, "/") + "/" + indexName
		if id, ok = h.resolveInRoot(root, cand); !ok || !id.info.Mode().IsRegular() {
			return target{kind: lookupMissing}
		}
		if !dirWanted {
			return target{kind: lookupDirRedirect}
		}
		name = indexName
	} else if dirWanted || !id.info.Mode().IsRegular() {
		return target{kind: lookupMissing}
	}
	t := target{kind: lookupFound, name: name}
	t.files[encIdentity] = id
	for e := encBrotli; e < numEncodings; e++ {
		if sib, ok := h.resolveInRoot(root, cand+encodingSuffix[e]); ok && sib.info.Mode().IsRegular() {
			t.files[e] = sib
		}
	}
	return t
}

// resolveInRoot resolves every symlink in cand and accepts the result only when it
// stays inside root and has no hidden segment below it.
func (h *staticHandler) resolveInRoot(root, cand string) (fileID, bool) {
	real, err := filepath.EvalSymlinks(cand)
	if err != nil {
		return fileID{}, false
	}
	rel, inside := "", root == "/"
	switch {
	case real == root:
		inside = true
	case strings.HasPrefix(real, root) && real[len(root)] == '/':
		rel, inside = real[len(root):], true
	case inside:
		rel = real
	}
	if !inside || hasHiddenSegment(rel) {
		if ce := h.log.Check(zapcore.DebugLevel, "static: refused a path resolving outside the root or to a hidden file"); ce != nil {
			ce.Write(zap.String("path", cand), zap.String("resolved", real))
		}
		return fileID{}, false
	}
	fi, err := os.Stat(real)
	if err != nil {
		return fileID{}, false
	}
	return fileID{path: real, info: fi}, true
}

// buildEntry opens and loads the files of t into a new cache entry.
func (h *staticHandler) buildEntry(key string, t *target, now int64) (*staticEntry, error) {
	e := &staticEntry{cache: h.cache}
	for enc := encIdentity; enc < numEncodings; enc++ {
		if t.files[enc].path == "" {
			continue
		}
		rep, fi, err := h.openRep(e, t.files[enc], enc)
		if err != nil {
			e.retire()
			return nil, err
		}
		e.reps[enc] = rep
		e.sources[enc] = fileID{path: t.files[enc].path, info: fi}
		e.have[enc] = true
	}
	id := e.reps[encIdentity]
	var head [512]byte
	sniff := head[:0]
	if id.inMemory {
		sniff = id.data[:min(len(id.data), len(head))]
	} else if n, err := id.file.readAt(head[:], 0); err == nil || errors.Is(err, io.EOF) {
		sniff = head[:n]
	}
	ct := staticContentType(t.name, sniff)
	e.contentType = []byte(ct)
	if isHashedName(lastSegment(key)) {
		e.cacheControl = h.immutableCC
	} else {
		e.cacheControl = h.cacheCC
	}
	mod := e.sources[encIdentity].info.ModTime()
	e.modTime = mod.Truncate(time.Second)
	e.lastModified = fasthttp.AppendHTTPDate(nil, mod)
	if !e.have[encBrotli] && !e.have[encGzip] && h.compress && isCompressibleType(ct) &&
		id.size >= h.minCompress && id.size <= h.maxMemFile {
		e.dynamic = true
		e.have[encBrotli], e.have[encGzip] = true, true
	}
	e.vary = e.have[encBrotli] || e.have[encGzip]
	e.checked.Store(now)
	return e, nil
}

// openRep opens one file of an entry: files up to maxMemFile are read into memory
// (within the memory budget): a Go slice when small, a sealed memfd snapshot sent with
// sendfile from minSendfile on; bigger ones stay open and are sent from disk.
func (h *staticHandler) openRep(e *staticEntry, id fileID, enc encoding) (*staticRep, os.FileInfo, error) {
	f, err := openStaticFile(id.path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s: %w", id.path, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || !os.SameFile(fi, id.info) {
		_ = f.Close()
		return nil, nil, errChanged
	}
	rep := &staticRep{size: fi.Size(), etag: makeETag(fi, encodingTag[enc]), encoding: enc}
	if rep.size <= h.maxMemFile && e.charge(rep.size) {
		data := make([]byte, rep.size)
		_, err = io.ReadFull(f, data)
		_ = f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", id.path, errChanged)
		}
		if rep.size >= h.minSendfile {
			snap, mem, err := snapshotFile(id.path, data)
			if err == nil {
				rep.file = newOpenFile(snap, mem)
				return rep, fi, nil
			}
			if ce := h.log.Check(zapcore.WarnLevel, "static: serving from Go memory instead of a snapshot"); ce != nil {
				ce.Write(zap.Error(err))
			}
		}
		rep.data, rep.inMemory = data, true
		return rep, fi, nil
	}
	rep.file = newOpenFile(f, nil)
	return rep, fi, nil
}

// makeETag is a strong validator from modification time (ns) and size, in hex.
func makeETag(fi os.FileInfo, tag string) []byte {
	b := make([]byte, 0, 40)
	b = append(b, '"')
	b = strconv.AppendInt(b, fi.ModTime().UnixNano(), 16)
	b = append(b, '-')
	b = strconv.AppendInt(b, fi.Size(), 16)
	b = append(b, tag...)
	return append(b, '"')
}
