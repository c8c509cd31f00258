package proxy

import "github.com/valyala/fasthttp"

// routePolicy is what a route does around its target: redirect, access rules,
// response headers and compression.
type routePolicy struct {
	redirect *redirectRule
	access   *accessRules
	headers  *headerOps
	compress bool // compress proxied responses (app routes only)
}

func compileRoutePolicy(rc RouteConfig, p *routePolicy) error {
	var err error
	if p.redirect, err = compileRouteRedirect(rc.Path, rc.Redirect); err != nil {
		return err
	}
	if p.access, err = compileAccess(rc.Access); err != nil {
		return err
	}
	if p.headers, err = compileHeaderRules(rc.Headers); err != nil {
		return err
	}
	p.compress = rc.Compress && rc.App != ""
	return nil
}

func compileSite(sc SiteConfig, s *site) error {
	var err error
	if s.redirect, err = compileSiteRedirect(sc); err != nil {
		return err
	}
	s.headers, err = compileHeaderRules(sc.Headers)
	return err
}

// serveRoute answers a request whose site and route are known: redirect, access
// rules, then the target; proxied responses are compressed on the way out. It
// returns the color that served an app route.
func (s *Server) serveRoute(ctx *fasthttp.RequestCtx, t *table, rt *route, rid []byte, tg requestTarget) string {
	if rt.redirect != nil {
		rt.redirect.answer(ctx)
		return ""
	}
	if rt.access != nil && !rt.access.admit(ctx, clientAddr(&ctx.Request.Header, peerAddr(ctx), t.trusted), rid) {
		return ""
	}
	if rt.kind != routeApp {
		rt.handler(ctx)
		return ""
	}
	tg.trusted = t.trusted
	color := s.forward(ctx, rt.app, rid, tg)
	if rt.compress {
		compressResponse(ctx, t.compressMin)
	}
	return color
}

// applyHeaders runs the site's header rules, then the route's, on whatever response
// was produced (proxied, static, handler, redirect or edge's own error page). It
// reports whether the rules removed Server.
func applyHeaders(ctx *fasthttp.RequestCtx, st *site, rt *route) (removedServer bool) {
	if st == nil {
		return false
	}
	h := &ctx.Response.Header
	removedServer = st.headers.apply(h)
	if rt != nil && rt.headers != nil {
		removedServer = rt.headers.apply(h) || (removedServer && len(h.Server()) == 0)
	}
	return removedServer
}

// setServerHeader names edge in Server when the response has none (an app's own
// Server header passes through) and no header rule removed it.
func setServerHeader(ctx *fasthttp.RequestCtx, removed bool) {
	if !removed && len(ctx.Response.Header.Server()) == 0 {
		ctx.Response.Header.SetServer("edge")
	}
}
