package proxy

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"
)

// redirectRule is a compiled site or route redirect.
type redirectRule struct {
	target []byte // site: "https://example.com" (no trailing /); route: To
	code   int
	strip  string // route: the prefix replaced by target; site: ""
	join   bool   // append the request path after strip (site always; route when both end in /)
}

// CheckRedirectCode accepts the redirect statuses a browser follows, keeping or
// changing the method as the code says. 0 means the default, 308.
func CheckRedirectCode(code int) error {
	switch code {
	case 0, 301, 302, 303, 307, 308:
		return nil
	}
	return fmt.Errorf("redirect code %d is not one of 301, 302, 303, 307, 308", code)
}

// CheckSiteRedirect checks a whole-site redirect URL: absolute http(s), a host, no
// query, and not back to one of the site's own hosts (a loop).
func CheckSiteRedirect(hosts []string, to string) error {
	u, err := url.Parse(to)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("redirect %q must be an absolute http:// or https:// URL with a host", to)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("redirect %q may not carry a query, fragment or user info: the request's own path and query are appended", to)
	}
	if strings.ContainsAny(to, "\r\n\t ") {
		return fmt.Errorf("redirect %q contains white space", to)
	}
	target := strings.ToLower(u.Hostname())
	for _, h := range hosts {
		if hostMatches(strings.ToLower(h), target) {
			return fmt.Errorf("redirect %q points back at this site's own host %q: every request would redirect to itself", to, h)
		}
	}
	return nil
}

// hostMatches reports whether a site host pattern (exact, "*.x" or "*") covers name.
func hostMatches(pattern, name string) bool {
	switch {
	case pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*."):
		i := strings.IndexByte(name, '.')
		return i > 0 && name[i:] == pattern[1:]
	}
	return pattern == name
}

// CheckRouteRedirect checks a route redirect: a path or absolute URL, not into the
// route's own prefix (a loop).
func CheckRouteRedirect(prefix string, r RedirectConfig) error {
	if err := CheckRedirectCode(r.Code); err != nil {
		return err
	}
	if r.To == "" {
		return fmt.Errorf("redirect of route %q has no `to`", prefix)
	}
	if strings.ContainsAny(r.To, "\r\n\t ") {
		return fmt.Errorf("redirect target %q contains white space", r.To)
	}
	if strings.HasPrefix(r.To, "/") {
		if strings.HasPrefix(r.To, "//") {
			return fmt.Errorf("redirect target %q starts with //, which browsers read as another host; write https://host/… instead", r.To)
		}
		if strings.HasPrefix(r.To, prefix) {
			return fmt.Errorf("redirect of route %q to %q stays inside the route: every request would redirect again", prefix, r.To)
		}
		return nil
	}
	u, err := url.Parse(r.To)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("redirect target %q must be a path starting with / or an absolute http(s) URL", r.To)
	}
	return nil
}

func compileSiteRedirect(sc SiteConfig) (*redirectRule, error) {
	if sc.Redirect == "" {
		return nil, nil
	}
	if err := CheckSiteRedirect(sc.Hosts, sc.Redirect); err != nil {
		return nil, err
	}
	if err := CheckRedirectCode(sc.RedirectCode); err != nil {
		return nil, err
	}
	return &redirectRule{target: []byte(strings.TrimRight(sc.Redirect, "/")), code: codeOr308(sc.RedirectCode), join: true}, nil
}

func compileRouteRedirect(prefix string, r *RedirectConfig) (*redirectRule, error) {
	if r == nil {
		return nil, nil
	}
	if err := CheckRouteRedirect(prefix, *r); err != nil {
		return nil, err
	}
	join := strings.HasSuffix(prefix, "/") && strings.HasSuffix(r.To, "/")
	return &redirectRule{target: []byte(r.To), code: codeOr308(r.Code), strip: prefix, join: join}, nil
}

func codeOr308(c int) int {
	if c == 0 {
		return fasthttp.StatusPermanentRedirect
	}
	return c
}

// answer writes the redirect. The path appended is the decoded, normalized one
// edge routed by, escaped again, so nothing a client encodes can reach the Location
// header unescaped; its leading slashes are dropped after a target that ends in "/",
// so "/old//evil.com" can never become the protocol-relative "//evil.com".
func (r *redirectRule) answer(ctx *fasthttp.RequestCtx) {
	loc := make([]byte, 0, 256)
	loc = append(loc, r.target...)
	if r.join {
		rest := string(ctx.Path())
		if r.strip != "" && strings.HasPrefix(rest, r.strip) {
			rest = rest[len(r.strip):]
		}
		rest = strings.TrimLeft(rest, "/")
		if len(loc) == 0 || loc[len(loc)-1] != '/' {
			loc = append(loc, '/')
		}
		loc = append(loc, (&url.URL{Path: rest}).EscapedPath()...)
	}
	if q := ctx.URI().QueryString(); len(q) > 0 {
		loc = append(loc, '?')
		loc = append(loc, q...)
	}
	ctx.Response.Header.SetBytesV(fasthttp.HeaderLocation, loc)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.SetStatusCode(r.code)
	ctx.SetBodyString("Moved.\n")
}
