package proxy

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

type routeKind uint8

const (
	routeApp routeKind = iota
	routeHandler
	routeStatic
	routeRedirect
)

// route is one path prefix of a site and what serves it.
type route struct {
	prefix  string
	kind    routeKind
	app     *app
	handler fasthttp.RequestHandler // local handler or static files
	routePolicy
}

// site is a set of hosts sharing routes, longest prefix first.
type site struct {
	name     string // first host, used as the metrics/log label
	routes   []route
	redirect *redirectRule // whole-site redirect; routes are not consulted
	headers  *headerOps
}

// match returns the route with the longest prefix of path, or nil.
func (s *site) match(path []byte) *route {
	for i := range s.routes {
		p := s.routes[i].prefix
		if len(path) >= len(p) && string(path[:len(p)]) == p {
			return &s.routes[i]
		}
	}
	return nil
}

// slashRedirect reports a path that is a route prefix without its trailing slash
// ("/static" for a "/static/" route) while no route matches it more exactly: such a
// request is redirected to the prefix, as nginx does for its prefix locations.
func (s *site) slashRedirect(path []byte, matched *route) bool {
	if len(path) == 0 || (matched != nil && len(matched.prefix) >= len(path)) {
		return false
	}
	for i := range s.routes {
		p := s.routes[i].prefix
		if len(p) == len(path)+1 && p[len(path)] == '/' && string(path) == p[:len(path)] {
			return true
		}
	}
	return false
}

// redirectToSlash answers 301 to path plus "/", keeping the query string.
func redirectToSlash(ctx *fasthttp.RequestCtx, path, rid []byte) {
	q := ctx.URI().QueryString()
	loc := make([]byte, 0, len(path)+2+len(q))
	loc = append(append(loc, path...), '/')
	if len(q) > 0 {
		loc = append(append(loc, '?'), q...)
	}
	r := &ctx.Response
	r.Header.SetBytesV(fasthttp.HeaderLocation, loc)
	r.Header.SetBytesV(hdrRequestID, rid)
	r.Header.SetContentType("text/plain; charset=utf-8")
	r.SetStatusCode(fasthttp.StatusMovedPermanently)
	r.SetBodyString("Moved Permanently\n")
}

// table is the immutable routing state. A reload builds a new one and swaps it in.
type table struct {
	hosts hostTable
	apps  map[string]*app
	order []*app // config order, for status output
	// Settings a reload may change, read without locks through the table.
	switchTimeout time.Duration
	reload        func(ctx context.Context) error
	trusted       prefixList
	compressMin   int
}

func (t *table) site(host []byte) *site { return t.hosts.match(host) }

// slots lists every replica of every app.
func (t *table) slots() []*slot {
	out := make([]*slot, 0, 2*len(t.order))
	for _, a := range t.order {
		for _, p := range a.pools {
			out = append(out, p.replicas...)
		}
	}
	return out
}

// tableBuilder turns a Config into a table, reusing what a previous table had for apps
// that still exist: their switch state always, their slots (pools, health, in-flight
// counters) per color when its replicas and health settings did not change.
type tableBuilder struct {
	cfg      *Config
	log      *zap.Logger
	prev     *table
	restored map[string]AppState // from the state file, for apps new to this table
	consumer HealthConsumer
}

func (b *tableBuilder) build() (*table, error) {
	t := &table{hosts: newHostTable(), apps: map[string]*app{},
		switchTimeout: b.cfg.SwitchTimeout, reload: b.cfg.Reload,
		trusted: b.cfg.TrustedProxies, compressMin: b.cfg.Compression.MinSize}
	if t.compressMin <= 0 {
		t.compressMin = defaultCompressMinSize
	}
	for _, ac := range b.cfg.Apps {
		a := &app{name: ac.Name, cfg: ac}
		var old *app
		if b.prev != nil {
			old = b.prev.apps[ac.Name]
		}
		if old != nil {
			a.state = old.state
		} else {
			a.state = b.initialState(ac.Name)
		}
		for _, c := range []Color{Blue, Green} {
			addrs := ac.replicas(c)
			if old != nil && slices.Equal(old.cfg.replicas(c), addrs) && old.cfg.Health == ac.Health &&
				old.pools[c].replicas[0].limits == b.cfg.Limits {
				a.pools[c] = old.pools[c]
				continue
			}
			a.pools[c] = newPool(ac.Name, c, addrs, b.cfg.Limits, ac.Health, b.cfg.Metrics, a.state, b.consumer)
		}
		t.apps[ac.Name] = a
		t.order = append(t.order, a)
	}
	for _, sc := range b.cfg.Sites {
		s := &site{name: sc.Hosts[0]}
		if err := compileSite(sc, s); err != nil {
			return nil, fmt.Errorf("site %s: %w", s.name, err)
		}
		for _, rc := range sc.Routes {
			r, err := b.route(rc, t)
			if err != nil {
				return nil, fmt.Errorf("site %s: %w", s.name, err)
			}
			s.routes = append(s.routes, r)
		}
		sort.SliceStable(s.routes, func(i, j int) bool { return len(s.routes[i].prefix) > len(s.routes[j].prefix) })
		for _, h := range sc.Hosts {
			t.hosts.add(h, s)
		}
	}
	return t, nil
}

func (b *tableBuilder) initialState(name string) *appState {
	return newAppState(b.restored[name]) // absent: blue, never switched
}

func (b *tableBuilder) route(rc RouteConfig, t *table) (route, error) {
	r := route{prefix: rc.Path}
	switch {
	case rc.App != "":
		r.kind = routeApp
		r.app = t.apps[rc.App]
		if r.app == nil {
			return r, fmt.Errorf("route %q points at unknown app %q", rc.Path, rc.App)
		}
	case rc.Handler != "":
		r.kind = routeHandler
		r.handler = b.cfg.Handlers[rc.Handler]
		if r.handler == nil {
			return r, fmt.Errorf("route %q uses handler %q, which was not supplied", rc.Path, rc.Handler)
		}
	case rc.Redirect != nil:
		r.kind = routeRedirect
	case rc.Static != nil:
		r.kind = routeStatic
		h, err := rc.Static.NewHandler(rc.Path, b.log.Named("static"))
		if err != nil {
			return r, fmt.Errorf("static route %q: %w", rc.Path, err)
		}
		r.handler = h
	default:
		return r, fmt.Errorf("route %q has no target", rc.Path)
	}
	if !strings.HasPrefix(rc.Path, "/") {
		return r, fmt.Errorf("route path %q must start with /", rc.Path)
	}
	if err := compileRoutePolicy(rc, &r.routePolicy); err != nil {
		return r, fmt.Errorf("route %q: %w", rc.Path, err)
	}
	return r, nil
}
