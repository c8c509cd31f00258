package proxy

import (
	"errors"
	"net"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// handleHTTP serves the plain-HTTP listener: with HTTPS on, it answers ACME
// challenges and redirects everything else; with HTTPS off, it routes.
func (s *Server) handleHTTP(ctx *fasthttp.RequestCtx) {
	t, no := admit(&ctx.Request.Header)
	if no != nil {
		s.refuse(ctx, no)
		return
	}
	if s.httpsLn == nil {
		s.route(ctx, t)
		return
	}
	setServerHeader(ctx, false)
	if s.cfg.ACMEChallenge != nil && s.cfg.ACMEChallenge(ctx) {
		s.done(ctx, nil, nil, "", nil)
		return
	}
	s.redirect(ctx, t)
}

// handleHTTPS serves the HTTPS listener.
func (s *Server) handleHTTPS(ctx *fasthttp.RequestCtx) {
	t, no := admit(&ctx.Request.Header)
	if no != nil {
		s.refuse(ctx, no)
	} else {
		s.route(ctx, t)
	}
	if s.cfg.HSTS && len(ctx.Response.Header.Peek(hdrHSTS)) == 0 { // a site's own header rule wins
		ctx.Response.Header.Set(hdrHSTS, hstsValue)
	}
}

// refuse answers a request admit refused. Only a 405 keeps the connection: after the
// others edge cannot be sure where the next request starts, or that it wants one.
func (s *Server) refuse(ctx *fasthttp.RequestCtx, no *refusal) {
	setServerHeader(ctx, false)
	var buf [32]byte
	rid := appendRequestID(buf[:0])
	writeErrorPage(ctx, no.status, rid)
	if no.status == fasthttp.StatusMethodNotAllowed {
		ctx.Response.Header.Set(fasthttp.HeaderAllow, allowedMethods)
	} else {
		ctx.SetConnectionClose()
	}
	if ce := s.log.Check(zap.DebugLevel, "refused a request"); ce != nil {
		ce.Write(zap.ByteString("request_id", rid), zap.Int("status", no.status), zap.String("reason", no.why),
			zap.String("remote", ctx.RemoteIP().String()))
	}
	s.done(ctx, nil, nil, "", rid)
}

// route sends the request to the site and route its host and path select.
func (s *Server) route(ctx *fasthttp.RequestCtx, tg requestTarget) {
	t := s.table.Load()
	st := t.site(tg.host)
	var rt *route
	path := ctx.Path()
	if st != nil {
		rt = st.match(path)
	}
	rid := requestID(&ctx.Request.Header)
	color := ""
	switch {
	case st != nil && st.redirect != nil:
		st.redirect.answer(ctx)
		rt = nil
	case st != nil && st.slashRedirect(path, rt):
		redirectToSlash(ctx, path, rid)
	case rt == nil:
		writeErrorPage(ctx, fasthttp.StatusNotFound, rid)
	default:
		color = s.serveRoute(ctx, t, rt, rid, tg)
	}
	setServerHeader(ctx, applyHeaders(ctx, st, rt))
	var a *app
	if rt != nil {
		a = rt.app
	}
	s.done(ctx, st, a, color, rid)
}

// redirect answers 308 to the same host and URI over HTTPS, for hosts edge serves.
func (s *Server) redirect(ctx *fasthttp.RequestCtx, t requestTarget) {
	var rid [32]byte
	id := appendRequestID(rid[:0])
	var buf [maxHostLen]byte
	host, ok := normalizeHost(t.host, &buf)
	st := s.table.Load().site(host)
	if !ok || !redirectableHost(host) || st == nil {
		writeErrorPage(ctx, fasthttp.StatusNotFound, id)
		s.done(ctx, nil, nil, "", id)
		return
	}
	if st.redirect != nil { // straight to the site's target, not via its own https:// name
		st.redirect.answer(ctx)
		s.done(ctx, st, nil, "", id)
		return
	}
	uri := t.uri
	loc := make([]byte, 0, 8+len(host)+len(s.httpsPort)+len(uri))
	loc = append(loc, "https://"...)
	loc = append(loc, host...)
	loc = append(loc, s.httpsPort...)
	loc = append(loc, uri...)
	ctx.Response.Header.SetBytesV(fasthttp.HeaderLocation, loc)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.SetStatusCode(fasthttp.StatusPermanentRedirect)
	ctx.SetBodyString("This site is served over HTTPS.\n")
	s.done(ctx, nil, nil, "", id)
}

// redirectableHost accepts DNS names and IP literals only, so a Location header can
// never point somewhere odd.
func redirectableHost(h []byte) bool {
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// handleParseError answers requests fasthttp could not read: 431 for headers over
// the limit, 413 for a body over the limit, 408 for a timeout, 400 for the rest.
// The request never reaches a route.
func (s *Server) handleParseError(ctx *fasthttp.RequestCtx, err error) {
	status := fasthttp.StatusBadRequest
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		status = fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status = fasthttp.StatusRequestEntityTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		status = fasthttp.StatusRequestTimeout
	}
	var buf [32]byte
	rid := appendRequestID(buf[:0])
	writeErrorPage(ctx, status, rid)
	setServerHeader(ctx, false)
	if ce := s.log.Check(zap.DebugLevel, "refused a malformed request"); ce != nil {
		ce.Write(zap.ByteString("request_id", rid), zap.Int("status", status), zap.Error(err))
	}
	s.done(ctx, nil, nil, "", rid)
}

// done records metrics and the access log line for one request.
func (s *Server) done(ctx *fasthttp.RequestCtx, st *site, a *app, color string, rid []byte) {
	status := ctx.Response.StatusCode()
	d := time.Since(ctx.Time())
	siteName, appName := "", ""
	if st != nil {
		siteName = st.name
	}
	if a != nil {
		appName = a.name
		if color != "" {
			a.pools[colorIndex(color)].countAnswer(status)
		}
	}
	s.cfg.Metrics.RequestDone(siteName, appName, color, status, d)
	if s.access == nil {
		return
	}
	if ce := s.access.Check(zap.InfoLevel, "request"); ce != nil {
		size := ctx.Response.Header.ContentLength()
		if !ctx.Response.IsBodyStream() {
			size = len(ctx.Response.Body())
		}
		ce.Write(
			zap.ByteString("host", ctx.Host()),
			zap.ByteString("method", ctx.Method()),
			zap.ByteString("path", ctx.Path()),
			zap.Int("status", status),
			zap.Int("bytes", size),
			zap.Duration("duration", d),
			zap.String("app", appName),
			zap.String("color", color),
			zap.ByteString("request_id", rid),
			zap.String("remote", ctx.RemoteIP().String()),
		)
	}
}

// HealthChanged implements HealthConsumer: it logs and counts health transitions.
func (s *Server) HealthChanged(app string, c Color, addr string, healthy bool, reason string) {
	if a := s.table.Load().apps[app]; a != nil {
		p := a.pools[c]
		s.cfg.Metrics.HealthChanged(app, c.String(), p.healthyCount() == len(p.replicas))
	} else {
		s.cfg.Metrics.HealthChanged(app, c.String(), healthy)
	}
	if healthy {
		s.log.Info("upstream is healthy", zap.String("app", app), zap.String("color", c.String()), zap.String("upstream", addr))
		return
	}
	s.log.Warn("upstream is not healthy", zap.String("app", app), zap.String("color", c.String()),
		zap.String("upstream", addr), zap.String("reason", reason))
}
