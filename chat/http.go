package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

const maxSessionBody = 4 << 10

func (h *Hub) initHTTP() {
	ancestors := []string{"'self'"}
	for _, o := range h.cfg.Origins {
		n := normalizeOrigin(o)
		h.origins[n] = true
		ancestors = append(ancestors, n)
	}
	h.csp = "frame-ancestors " + strings.Join(ancestors, " ")
	h.initUpgrader()
}

// Handler serves everything under Config.Mount; it expects the full request path.
func (h *Hub) Handler() fasthttp.RequestHandler { return h.handle }

func (h *Hub) handle(ctx *fasthttp.RequestCtx) {
	p := ctx.Path()
	mount := h.cfg.Mount
	if !bytes.HasPrefix(p, []byte(mount)) {
		if string(p)+"/" == mount { // "/chat" -> "/chat/"
			ctx.Redirect(mount, fasthttp.StatusMovedPermanently)
			return
		}
		h.jsonError(ctx, fasthttp.StatusNotFound, errorf(CodeNotFound, "not found"))
		return
	}
	rest := string(p[len(mount):])
	switch {
	case rest == "" || rest == "index.html":
		h.page(ctx)
	case rest == "widget.js":
		if h.allowGet(ctx) {
			h.setCORS(ctx, true)
			ctx.Response.Header.Set("Cross-Origin-Resource-Policy", "cross-origin")
			h.asset(ctx, "widget.js", "public, max-age=300")
		}
	case strings.HasPrefix(rest, "static/"):
		if h.allowGet(ctx) {
			ctx.Response.Header.Set("Cross-Origin-Resource-Policy", "cross-origin")
			h.asset(ctx, rest[len("static/"):], "public, max-age=300")
		}
	case rest == "ws":
		h.serveWS(ctx)
	case rest == "api/config":
		if h.allowGet(ctx) {
			h.setCORS(ctx, false)
			h.writeJSON(ctx, fasthttp.StatusOK, map[string]any{
				"locale": h.cfg.NicknameLocale, "mount": mount, "max_content_chars": h.cfg.MaxContentChars,
			})
		}
	case rest == "api/session":
		h.session(ctx)
	case strings.HasPrefix(rest, "api/rooms/"):
		h.history(ctx, rest[len("api/rooms/"):])
	default:
		h.jsonError(ctx, fasthttp.StatusNotFound, errorf(CodeNotFound, "not found"))
	}
}

func (h *Hub) allowGet(ctx *fasthttp.RequestCtx) bool {
	if ctx.IsGet() || ctx.IsHead() {
		return true
	}
	if ctx.IsOptions() {
		h.setCORS(ctx, false)
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return false
	}
	ctx.Response.Header.Set("Allow", "GET, HEAD")
	h.jsonError(ctx, fasthttp.StatusMethodNotAllowed, errorf(CodeMethod, "use GET"))
	return false
}

func (h *Hub) asset(ctx *fasthttp.RequestCtx, name, cache string) {
	a := h.assets.files[name]
	if a == nil {
		h.jsonError(ctx, fasthttp.StatusNotFound, errorf(CodeNotFound, "no such file"))
		return
	}
	a.serve(ctx, cache)
}

// page serves the chat page, which may be framed by the chat's own origin and by the
// configured origins only.
func (h *Hub) page(ctx *fasthttp.RequestCtx) {
	if !h.allowGet(ctx) {
		return
	}
	hd := &ctx.Response.Header
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	if len(h.origins) == 0 {
		hd.Set("X-Frame-Options", "SAMEORIGIN") // for browsers without CSP frame-ancestors
	}
	h.asset(ctx, "index.html", "no-cache")
}

// originOK: no Origin (not a browser), the chat's own origin, or an allowed one.
func (h *Hub) originOK(ctx *fasthttp.RequestCtx) bool {
	o := ctx.Request.Header.Peek("Origin")
	if len(o) == 0 {
		return true
	}
	n := normalizeOrigin(string(o))
	if n == "" {
		return false
	}
	if h.origins[n] {
		return true
	}
	_, host, _ := strings.Cut(n, "://")
	return strings.EqualFold(host, string(ctx.Host()))
}

// setCORS lets allowed origins (or, for public files, anyone) read the response.
func (h *Hub) setCORS(ctx *fasthttp.RequestCtx, public bool) {
	hd := &ctx.Response.Header
	if public {
		hd.Set("Access-Control-Allow-Origin", "*")
		return
	}
	hd.Add("Vary", "Origin")
	o := ctx.Request.Header.Peek("Origin")
	if len(o) == 0 || !h.originOK(ctx) {
		return
	}
	hd.SetBytesV("Access-Control-Allow-Origin", o)
	if ctx.IsOptions() {
		hd.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		hd.Set("Access-Control-Allow-Headers", "Content-Type")
		hd.Set("Access-Control-Max-Age", "600")
	}
}

type sessionRequest struct {
	AnonID string `json:"anon_id"`
}

type sessionResponse struct {
	Token     string `json:"token"`
	User      User   `json:"user"`
	ExpiresAt string `json:"expires_at"`
	AnonID    string `json:"anon_id"`
}

func (h *Hub) session(ctx *fasthttp.RequestCtx) {
	h.setCORS(ctx, false)
	if ctx.IsOptions() {
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		h.jsonError(ctx, fasthttp.StatusMethodNotAllowed, errorf(CodeMethod, "use POST"))
		return
	}
	if o := ctx.Request.Header.Peek("Origin"); len(o) > 0 && !h.originOK(ctx) {
		h.jsonError(ctx, fasthttp.StatusForbidden, errorf(CodeForbidden, "this origin may not use the chat"))
		return
	}
	ip, _ := netip.AddrFromSlice(ctx.RemoteIP()) // the socket peer, never X-Forwarded-For
	ip = ip.Unmap()
	if ok, wait := h.mod.sessions.take(ip, time.Now()); !ok {
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(retryAfter(wait)))
		h.jsonError(ctx, fasthttp.StatusTooManyRequests, errorf(CodeRateLimited, "too many sessions from this address; retry in %d s", retryAfter(wait)))
		return
	}
	body := ctx.Request.Body()
	if len(body) > maxSessionBody {
		h.jsonError(ctx, fasthttp.StatusRequestEntityTooLarge, errorf(CodeTooLarge, "the body is limited to %d bytes", maxSessionBody))
		return
	}
	var req sessionRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			h.jsonError(ctx, fasthttp.StatusBadRequest, errorf(CodeBadRequest, "the body must be a JSON object like {\"anon_id\":\"…\"}"))
			return
		}
	}
	anon := req.AnonID
	if anon == "" {
		anon = newAnonID()
	} else if !validAnonID(anon) {
		h.jsonError(ctx, fasthttp.StatusBadRequest, errorf(CodeBadRequest, "anon_id must be 16 to 128 characters of A-Z a-z 0-9 _ -"))
		return
	}
	if e := h.mod.banned(userIDFor(anon), ip); e != nil {
		h.jsonError(ctx, fasthttp.StatusForbidden, e)
		return
	}
	token, u, exp, err := h.id.issue(anon, time.Now())
	if err != nil {
		h.jsonError(ctx, fasthttp.StatusInternalServerError, errorf(CodeInternal, "could not issue a session"))
		return
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	h.writeJSON(ctx, fasthttp.StatusOK, sessionResponse{Token: token, User: u, ExpiresAt: exp.UTC().Format(time.RFC3339), AnonID: anon})
}

// history serves GET api/rooms/{room}/messages?before=ID&limit=N (newest last).
func (h *Hub) history(ctx *fasthttp.RequestCtx, rest string) {
	room, tail, ok := strings.Cut(rest, "/")
	if !ok || tail != "messages" {
		h.jsonError(ctx, fasthttp.StatusNotFound, errorf(CodeNotFound, "not found"))
		return
	}
	if !h.allowGet(ctx) {
		return
	}
	h.setCORS(ctx, false)
	if e := checkRoom(room); e != nil {
		h.jsonError(ctx, fasthttp.StatusBadRequest, e)
		return
	}
	args := ctx.QueryArgs()
	before, limit := int64(0), h.cfg.HistorySize
	if v := args.Peek("before"); len(v) > 0 {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n < 0 {
			h.jsonError(ctx, fasthttp.StatusBadRequest, errorf(CodeBadRequest, "before must be a message id"))
			return
		}
		before = n
	}
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 {
			h.jsonError(ctx, fasthttp.StatusBadRequest, errorf(CodeBadRequest, "limit must be a positive number"))
			return
		}
		limit = min(n, h.cfg.HistoryPageMax)
	}
	if !h.started.Load() {
		h.jsonError(ctx, fasthttp.StatusServiceUnavailable, errUnavailable)
		return
	}
	dctx, cancel := context.WithTimeout(h.bgCtx, h.cfg.DBTimeout)
	defer cancel()
	msgs, err := h.st.before(dctx, room, before, limit)
	if err != nil {
		h.jsonError(ctx, fasthttp.StatusServiceUnavailable, errUnavailable)
		return
	}
	if msgs == nil {
		msgs = []Message{}
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	h.writeJSON(ctx, fasthttp.StatusOK, map[string][]Message{"messages": msgs})
}

func (h *Hub) writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = fasthttp.StatusInternalServerError, []byte(`{"code":"internal","message":"encoding failed"}`)
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetBody(b)
}

func (h *Hub) jsonError(ctx *fasthttp.RequestCtx, status int, e *Error) {
	h.writeJSON(ctx, status, map[string]string{"code": string(e.Code), "message": e.Message})
}
