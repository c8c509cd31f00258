package main

import (
	"fmt"
	"strings"

	"github.com/edge-server/edge/proxy"
	"github.com/edge-server/edge/static"
)

func orOff(s string) string {
	if s == "" {
		return "off"
	}
	return s
}

func staticRoot(s *static.Config) string {
	if s == nil {
		return ""
	}
	if s.SPA {
		return s.Root + " (spa)"
	}
	return s.Root
}

func routeTarget(app, handler string, static bool, root string) string {
	switch {
	case app != "":
		return "app " + app
	case handler != "":
		return handler
	case static:
		return "static " + root
	}
	return "redirect"
}

// siteExtras summarizes a site's redirect and header rules for the validate summary.
func siteExtras(s proxy.SiteConfig) string {
	var parts []string
	if s.Redirect != "" {
		code := s.RedirectCode
		if code == 0 {
			code = 308
		}
		parts = append(parts, fmt.Sprintf("redirect %d → %s (path and query kept)", code, s.Redirect))
	}
	parts = append(parts, headerSummary(s.Headers)...)
	if len(parts) == 0 {
		return ""
	}
	return "  (" + strings.Join(parts, "; ") + ")"
}

// routeExtras summarizes what a route does around its target.
func routeExtras(r proxy.RouteConfig) string {
	var parts []string
	if r.Redirect != nil {
		code := r.Redirect.Code
		if code == 0 {
			code = 308
		}
		parts = append(parts, fmt.Sprintf("redirect %d → %s", code, r.Redirect.To))
	}
	if r.App != "" && !r.Compress {
		parts = append(parts, "no compression")
	}
	a := r.Access
	if len(a.Allow) > 0 {
		parts = append(parts, fmt.Sprintf("allow %d prefix(es)", len(a.Allow)))
	}
	if len(a.Deny) > 0 {
		parts = append(parts, fmt.Sprintf("deny %d prefix(es)", len(a.Deny)))
	}
	if len(a.BasicAuth) > 0 {
		parts = append(parts, fmt.Sprintf("basic auth, %d user(s)", len(a.BasicAuth)))
	}
	if a.RateLimit > 0 {
		parts = append(parts, fmt.Sprintf("rate %g/s per client", a.RateLimit))
	}
	parts = append(parts, headerSummary(r.Headers)...)
	if len(parts) == 0 {
		return ""
	}
	return "  (" + strings.Join(parts, "; ") + ")"
}

func headerSummary(h proxy.HeaderRules) []string {
	var out []string
	if n := len(h.Set) + len(h.Add); n > 0 {
		out = append(out, fmt.Sprintf("%d header(s) set/added", n))
	}
	if len(h.Remove) > 0 {
		out = append(out, "removes "+strings.Join(h.Remove, ", "))
	}
	return out
}
