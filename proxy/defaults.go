package proxy

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"
)

// Defaults applied by New to zero fields.
const (
	DefaultHTTPAddr            = ":80"
	DefaultSwitchTimeout       = 10 * time.Second
	DefaultMaxHeaderBytes      = 16 << 10
	DefaultMaxBodyBytes        = 10 << 20
	DefaultReadTimeout         = 30 * time.Second
	DefaultWriteTimeout        = 60 * time.Second
	DefaultIdleTimeout         = 120 * time.Second
	DefaultUpstreamTimeout     = 60 * time.Second
	DefaultConnectTimeout      = 5 * time.Second
	DefaultMaxConnsPerUpstream = 4096
	DefaultDrain               = 30 * time.Second
	DefaultHealthPath          = "/health"
	DefaultHealthInterval      = 2 * time.Second
	DefaultHealthTimeout       = time.Second // or the interval, when that is shorter
	DefaultHealthRise          = 2
	DefaultHealthFall          = 3
)

// DefaultLimits are the limits used for zero fields of Config.Limits.
var DefaultLimits = Limits{
	MaxHeaderBytes:      DefaultMaxHeaderBytes,
	MaxBodyBytes:        DefaultMaxBodyBytes,
	ReadTimeout:         DefaultReadTimeout,
	WriteTimeout:        DefaultWriteTimeout,
	IdleTimeout:         DefaultIdleTimeout,
	UpstreamTimeout:     DefaultUpstreamTimeout,
	ConnectTimeout:      DefaultConnectTimeout,
	MaxConnsPerUpstream: DefaultMaxConnsPerUpstream,
}

func orDur(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

func orInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// withDefaults returns cfg with every zero field set to its documented default.
func withDefaults(cfg Config) Config {
	if cfg.HTTPAddr == "" && cfg.HTTPListener == nil {
		cfg.HTTPAddr = DefaultHTTPAddr
	}
	cfg.SwitchTimeout = orDur(cfg.SwitchTimeout, DefaultSwitchTimeout)
	l := &cfg.Limits
	l.MaxHeaderBytes = orInt(l.MaxHeaderBytes, DefaultMaxHeaderBytes)
	l.MaxBodyBytes = orInt(l.MaxBodyBytes, DefaultMaxBodyBytes)
	l.ReadTimeout = orDur(l.ReadTimeout, DefaultReadTimeout)
	l.WriteTimeout = orDur(l.WriteTimeout, DefaultWriteTimeout)
	l.IdleTimeout = orDur(l.IdleTimeout, DefaultIdleTimeout)
	l.UpstreamTimeout = orDur(l.UpstreamTimeout, DefaultUpstreamTimeout)
	l.ConnectTimeout = orDur(l.ConnectTimeout, DefaultConnectTimeout)
	l.MaxConnsPerUpstream = orInt(l.MaxConnsPerUpstream, DefaultMaxConnsPerUpstream)
	apps := make([]AppConfig, len(cfg.Apps))
	for i, a := range cfg.Apps {
		a.Drain = orDur(a.Drain, DefaultDrain)
		h := &a.Health
		if h.Path == "" {
			h.Path = DefaultHealthPath
		}
		h.Interval = orDur(h.Interval, DefaultHealthInterval)
		h.Timeout = orDur(h.Timeout, min(DefaultHealthTimeout, h.Interval))
		h.Rise = orInt(h.Rise, DefaultHealthRise)
		h.Fall = orInt(h.Fall, DefaultHealthFall)
		apps[i] = a
	}
	cfg.Apps = apps
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics{}
	}
	return cfg
}

// httpsEnabled reports whether the config asks for an HTTPS listener.
func (c *Config) httpsEnabled() bool { return c.HTTPSAddr != "" || c.HTTPSListener != nil }

// check rejects configs the proxy cannot run. cmd/edge validates the file with line
// numbers first; this catches programming errors and configs built in code.
func (c *Config) check() error {
	if c.httpsEnabled() && c.TLSConfig == nil {
		return fmt.Errorf("HTTPS is enabled (%q) but no TLS config was given", c.HTTPSAddr)
	}
	for prefix := range c.AdminHandlers {
		if len(prefix) < 3 || prefix[0] != '/' || !strings.HasSuffix(prefix, "/") {
			return fmt.Errorf("admin handler prefix %q must look like /name/", prefix)
		}
	}
	apps := map[string]bool{}
	for _, a := range c.Apps {
		switch {
		case a.Name == "":
			return fmt.Errorf("an app has no name")
		case apps[a.Name]:
			return fmt.Errorf("app %q is defined twice", a.Name)
		case len(a.Blue) == 0 || len(a.Green) == 0:
			return fmt.Errorf("app %q needs both a blue and a green address", a.Name)
		case checkReplicas(a) != nil:
			return checkReplicas(a)
		case !strings.HasPrefix(a.Health.Path, "/"):
			return fmt.Errorf("app %q health path %q must start with /", a.Name, a.Health.Path)
		}
		apps[a.Name] = true
	}
	hosts := map[string]bool{}
	for i, s := range c.Sites {
		if len(s.Hosts) == 0 {
			return fmt.Errorf("site %d has no hosts", i)
		}
		for _, h := range s.Hosts {
			key := strings.ToLower(strings.TrimSuffix(h, "."))
			if !validSiteHost(key) {
				return fmt.Errorf("site host %q is not a DNS name, *.domain wildcard or *", h)
			}
			if hosts[key] {
				return fmt.Errorf("host %q belongs to more than one site", h)
			}
			hosts[key] = true
		}
		if s.Redirect != "" && len(s.Routes) > 0 {
			return fmt.Errorf("site %s redirects every request, so it cannot also have routes", s.Hosts[0])
		}
		paths := map[string]bool{}
		for _, r := range s.Routes {
			if err := c.checkRoute(r, apps); err != nil {
				return fmt.Errorf("site %s: %w", s.Hosts[0], err)
			}
			if paths[r.Path] {
				return fmt.Errorf("site %s: route %q appears twice", s.Hosts[0], r.Path)
			}
			paths[r.Path] = true
		}
	}
	return nil
}

// checkReplicas refuses empty addresses and an address listed twice in one app (in
// one color or in both: a switch between them would change nothing).
func checkReplicas(a AppConfig) error {
	seen := map[string]Color{}
	for _, c := range []Color{Blue, Green} {
		for _, addr := range a.replicas(c) {
			if addr == "" {
				return fmt.Errorf("app %q has an empty %s address", a.Name, c)
			}
			if was, dup := seen[addr]; dup {
				if was == c {
					return fmt.Errorf("app %q lists %s twice for %s", a.Name, addr, c)
				}
				return fmt.Errorf("app %q has the same address %s for blue and green", a.Name, addr)
			}
			seen[addr] = c
		}
	}
	return nil
}

// replicas returns the addresses of color c.
func (a AppConfig) replicas(c Color) []string {
	if c == Green {
		return a.Green
	}
	return a.Blue
}

func (c *Config) checkRoute(r RouteConfig, apps map[string]bool) error {
	if !strings.HasPrefix(r.Path, "/") {
		return fmt.Errorf("route path %q must start with /", r.Path)
	}
	n := 0
	if r.App != "" {
		n++
		if !apps[r.App] {
			return fmt.Errorf("route %q points at unknown app %q", r.Path, r.App)
		}
	}
	if r.Handler != "" {
		n++
		if c.Handlers[r.Handler] == nil {
			return fmt.Errorf("route %q uses handler %q, which was not supplied", r.Path, r.Handler)
		}
	}
	if r.Static != nil {
		n++
	}
	if r.Redirect != nil {
		n++
	}
	if n != 1 {
		return fmt.Errorf("route %q must have exactly one of app, handler, static or redirect", r.Path)
	}
	return nil
}

// serverTLSConfig offers HTTP/1.1 over ALPN when the caller set no protocols.
func serverTLSConfig(c *tls.Config) *tls.Config {
	if len(c.NextProtos) > 0 {
		return c
	}
	c = c.Clone()
	c.NextProtos = []string{"http/1.1"}
	return c
}
