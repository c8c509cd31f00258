package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edge-server/edge/proxy"
	"github.com/edge-server/edge/static"
)

// Check parses and validates, returning every problem from both steps together as
// Errors sorted by line. lookup expands ${VAR}; fs answers the validator's questions
// about directories and the CA root file.
func Check(path string, data []byte, lookup func(string) (string, bool), fs FS) (*Config, error) {
	cfg, err := Parse(path, data, lookup)
	var errs Errors
	if err != nil && (!errors.As(err, &errs) || cfg == nil) {
		return nil, err
	}
	errs = append(errs, Validate(cfg, fs)...)
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return cfg, errs
	}
	return cfg, nil
}

// Parse decodes YAML into a Config with defaults filled. It does not validate
// cross-references or look at the file system; Validate does. The error, if any, is
// Errors; the Config is nil only when the YAML itself could not be read.
func Parse(file string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: file, Msg: "the file is empty; see configs/edge.example.yaml"}}
		}
		return nil, Errors{{File: file, Line: yamlErrorLine(err), Msg: "not valid YAML: " + yamlErrorText(err)}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{File: file, Line: extra.Line, Msg: "the file holds more than one YAML document; edge reads exactly one"}}
	}
	cfg := Default(file)
	d := &decoder{file: file, lookup: lookup}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	at := &cfg.At
	d.mapping(doc, "", map[string]field{
		"state_dir":    func(n *yaml.Node, p string) { cfg.StateDir = d.str(n, p, &at.StateDir) },
		"admin_socket": func(n *yaml.Node, p string) { cfg.AdminSocket = d.str(n, p, &at.AdminSocket) },
		"metrics":      func(n *yaml.Node, p string) { cfg.Metrics = d.str(n, p, &at.Metrics) },
		"access_log":   func(n *yaml.Node, p string) { cfg.AccessLog = d.boolean(n, p, &at.AccessLog) },
		"listen":       func(n *yaml.Node, p string) { d.listen(n, p, cfg) },
		"tls":          func(n *yaml.Node, p string) { d.tls(n, p, cfg) },
		"apps":         func(n *yaml.Node, p string) { d.apps(n, p, cfg) },
		"sites":        func(n *yaml.Node, p string) { d.sites(n, p, cfg) },
		"chat":         func(n *yaml.Node, p string) { d.chat(n, p, cfg) },
		"limits":       func(n *yaml.Node, p string) { d.limits(n, p, cfg) },
		"trusted_proxies": func(n *yaml.Node, p string) {
			cfg.Proxy.TrustedProxies = d.prefixes(n, p)
		},
		"cluster": func(n *yaml.Node, p string) { d.cluster(n, p, cfg) },
	})
	if len(d.errs) > 0 {
		return cfg, d.errs
	}
	return cfg, nil
}

func (d *decoder) listen(n *yaml.Node, where string, cfg *Config) {
	at := &cfg.At
	d.mapping(n, where, map[string]field{
		"http":  func(v *yaml.Node, p string) { cfg.Proxy.HTTPAddr = d.str(v, p, &at.ListenHTTP) },
		"https": func(v *yaml.Node, p string) { cfg.Proxy.HTTPSAddr = d.str(v, p, &at.ListenHTTPS) },
	})
}

func (d *decoder) tls(n *yaml.Node, where string, cfg *Config) {
	at := &cfg.At
	d.mapping(n, where, map[string]field{
		"email": func(v *yaml.Node, p string) { cfg.TLS.Email = d.str(v, p, &at.TLSEmail) },
		"ca": func(v *yaml.Node, p string) {
			// One CA, or a list tried in order (certmagic issuers).
			cas := d.strList(v, p, &at.TLSCA, nil)
			if len(cas) > 0 {
				cfg.TLS.CA = cas[0]
			}
			if len(cas) > 1 {
				cfg.TLS.CAs = cas
			}
		},
		"ca_root": func(v *yaml.Node, p string) { cfg.CARootFile = d.str(v, p, &at.TLSCARoot) },
		"hsts":    func(v *yaml.Node, p string) { cfg.Proxy.HSTS = d.boolean(v, p, &at.TLSHSTS) },
	})
}

func (d *decoder) limits(n *yaml.Node, where string, cfg *Config) {
	record(n, &cfg.At.Limits)
	l := &cfg.Proxy.Limits
	d.mapping(n, where, map[string]field{
		"max_header_bytes": func(v *yaml.Node, p string) { l.MaxHeaderBytes = d.positiveInt(v, p, nil) },
		"max_body_bytes":   func(v *yaml.Node, p string) { l.MaxBodyBytes = d.positiveInt(v, p, nil) },
		"read_timeout":     func(v *yaml.Node, p string) { l.ReadTimeout = d.duration(v, p, nil) },
		"write_timeout":    func(v *yaml.Node, p string) { l.WriteTimeout = d.duration(v, p, nil) },
		"idle_timeout":     func(v *yaml.Node, p string) { l.IdleTimeout = d.duration(v, p, nil) },
		"upstream_timeout": func(v *yaml.Node, p string) { l.UpstreamTimeout = d.duration(v, p, nil) },
	})
}

func (d *decoder) apps(n *yaml.Node, where string, cfg *Config) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping of app names to their settings, not %s", where, describe(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		app := proxy.AppConfig{Name: k.Value, Health: defaultHealth, Drain: defaultDrain}
		var at AppPositions
		record(k, &at.Name)
		d.mapping(v, where+"."+k.Value, map[string]field{
			"blue":   func(x *yaml.Node, p string) { app.Blue = d.strList(x, p, &at.Blue, &at.BlueItems) },
			"green":  func(x *yaml.Node, p string) { app.Green = d.strList(x, p, &at.Green, &at.GreenItems) },
			"drain":  func(x *yaml.Node, p string) { app.Drain = d.duration(x, p, nil) },
			"health": func(x *yaml.Node, p string) { record(x, &at.Health); d.health(x, p, &app.Health) },
		})
		defaultHealthTimeout(&app.Health)
		cfg.Proxy.Apps = append(cfg.Proxy.Apps, app)
		cfg.At.Apps = append(cfg.At.Apps, at)
	}
}

// defaultHealthTimeout fills a timeout the file did not write: 1s, or the interval
// when that is shorter, so `interval: 500ms` alone is a valid setting.
func defaultHealthTimeout(h *proxy.HealthConfig) {
	if h.Timeout == 0 && h.Interval > 0 {
		h.Timeout = min(time.Second, h.Interval)
	}
}

func (d *decoder) health(n *yaml.Node, where string, h *proxy.HealthConfig) {
	d.mapping(n, where, map[string]field{
		"path":     func(v *yaml.Node, p string) { h.Path = d.str(v, p, nil) },
		"interval": func(v *yaml.Node, p string) { h.Interval = d.duration(v, p, nil) },
		"timeout":  func(v *yaml.Node, p string) { h.Timeout = d.duration(v, p, nil) },
		"rise":     func(v *yaml.Node, p string) { h.Rise = d.positiveInt(v, p, nil) },
		"fall":     func(v *yaml.Node, p string) { h.Fall = d.positiveInt(v, p, nil) },
	})
}

func (d *decoder) sites(n *yaml.Node, where string, cfg *Config) {
	d.sequence(n, where, func(i int, item *yaml.Node) {
		site := proxy.SiteConfig{}
		var at SitePositions
		var own *OwnCert
		record(item, &at.Site)
		path := fmt.Sprintf("%s[%d]", where, i)
		d.mapping(item, path, map[string]field{
			"hosts": func(v *yaml.Node, p string) { site.Hosts = d.strList(v, p, nil, &at.Hosts) },
			"routes": func(v *yaml.Node, p string) {
				d.sequence(v, p, func(j int, r *yaml.Node) {
					var rat Pos
					site.Routes = append(site.Routes, d.route(r, fmt.Sprintf("%s[%d]", p, j), &rat, cfg))
					at.Routes = append(at.Routes, rat)
				})
			},
			"headers":       func(v *yaml.Node, p string) { site.Headers = d.headers(v, p) },
			"redirect":      func(v *yaml.Node, p string) { site.Redirect = d.str(v, p, &at.Redirect) },
			"redirect_code": func(v *yaml.Node, p string) { site.RedirectCode = d.redirectCode(v, p) },
			"tls":           func(v *yaml.Node, p string) { own = d.ownCert(v, p) },
		})
		d.siteRedirect(&site, at.Redirect, path)
		if own != nil {
			own.Hosts = site.Hosts
			cfg.OwnCerts = append(cfg.OwnCerts, *own)
		}
		cfg.Proxy.Sites = append(cfg.Proxy.Sites, site)
		cfg.At.Sites = append(cfg.At.Sites, at)
	})
}

func (d *decoder) route(n *yaml.Node, where string, at *Pos, cfg *Config) proxy.RouteConfig {
	r := proxy.RouteConfig{}
	record(n, at)
	files := &static.Config{}
	staticKeys := false
	isChat := false
	var redirectAt *yaml.Node
	d.mapping(n, where, map[string]field{
		"path": func(v *yaml.Node, p string) { r.Path = d.str(v, p, nil) },
		"app":  func(v *yaml.Node, p string) { r.App = d.str(v, p, nil) },
		"chat": func(v *yaml.Node, p string) { isChat = d.boolean(v, p, nil) },
		"static": func(v *yaml.Node, p string) {
			files.Root = d.str(v, p, nil)
			r.Static = files
		},
		"spa":           func(v *yaml.Node, p string) { files.SPA = d.boolean(v, p, nil); staticKeys = true },
		"cache_control": func(v *yaml.Node, p string) { files.CacheControl = d.str(v, p, nil); staticKeys = true },
		"immutable_cache_control": func(v *yaml.Node, p string) {
			files.ImmutableCacheControl = d.str(v, p, nil)
			staticKeys = true
		},
		"compress": func(v *yaml.Node, p string) {
			files.Compress = d.boolean(v, p, nil)
			r.Compress = files.Compress
		},
		"redirect":   func(v *yaml.Node, p string) { r.Redirect = d.routeRedirect(v, p); redirectAt = v },
		"headers":    func(v *yaml.Node, p string) { r.Headers = d.headers(v, p) },
		"allow":      func(v *yaml.Node, p string) { r.Access.Allow = d.prefixes(v, p) },
		"deny":       func(v *yaml.Node, p string) { r.Access.Deny = d.prefixes(v, p) },
		"basic_auth": func(v *yaml.Node, p string) { r.Access.BasicAuth = d.basicAuth(v, p) },
		"rate_limit": func(v *yaml.Node, p string) { r.Access.RateLimit = d.rate(v, p) },
		"rate_burst": func(v *yaml.Node, p string) { r.Access.RateBurst = d.positiveInt(v, p, nil) },
	})
	if !hasKey(n, "compress") {
		files.Compress, r.Compress = true, true // compression is on unless a route turns it off
	}
	if staticKeys && r.Static == nil {
		d.errorf(n, "%s sets spa/cache_control but has no static directory", where)
	}
	if r.Redirect != nil {
		if err := proxy.CheckRouteRedirect(r.Path, *r.Redirect); err != nil {
			d.errorf(redirectAt, "%s: %v", where, err)
		}
	}
	if r.Access.RateBurst > 0 && r.Access.RateLimit == 0 {
		d.errorf(n, "%s sets rate_burst without rate_limit", where)
	}
	if isChat {
		r.Handler = "chat"
		cfg.ChatEnabled = true
	}
	return r
}

func hasKey(n *yaml.Node, key string) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

func (d *decoder) chat(n *yaml.Node, where string, cfg *Config) {
	at := &cfg.At
	record(n, &at.Chat)
	d.mapping(n, where, map[string]field{
		"database_url":     func(v *yaml.Node, p string) { cfg.Chat.DatabaseURL = d.str(v, p, &at.ChatDatabaseURL) },
		"origins":          func(v *yaml.Node, p string) { cfg.Chat.Origins = d.strList(v, p, &at.ChatOrigins, nil) },
		"nickname_locale":  func(v *yaml.Node, p string) { cfg.Chat.NicknameLocale = d.str(v, p, &at.ChatNicknameLocale) },
		"secret":           func(v *yaml.Node, p string) { cfg.Chat.Secret = []byte(d.str(v, p, &at.ChatSecret)) },
		"max_conns_per_ip": func(v *yaml.Node, p string) { cfg.Chat.MaxConnsPerIP = d.positiveInt(v, p, nil) },
		"message_rate":     func(v *yaml.Node, p string) { cfg.Chat.MessageRate = float64(d.positiveInt(v, p, nil)) },
		"message_burst":    func(v *yaml.Node, p string) { cfg.Chat.MessageBurst = d.positiveInt(v, p, nil) },
		"session_rate":     func(v *yaml.Node, p string) { cfg.Chat.SessionRate = float64(d.positiveInt(v, p, nil)) },
		"session_burst":    func(v *yaml.Node, p string) { cfg.Chat.SessionBurst = d.positiveInt(v, p, nil) },
		"rooms_per_addr_hour": func(v *yaml.Node, p string) {
			cfg.Chat.RoomsPerAddrHour = d.positiveInt(v, p, nil)
		},
		"filter": func(v *yaml.Node, p string) { d.chatFilter(v, p, cfg) },
	})
}

// chatFilter reads chat.filter {words, patterns, action}; edge reload applies it.
func (d *decoder) chatFilter(n *yaml.Node, where string, cfg *Config) {
	at := &cfg.At
	record(n, &at.ChatFilter)
	f := &cfg.Chat.Filter
	d.mapping(n, where, map[string]field{
		"words":    func(v *yaml.Node, p string) { f.Words = d.strList(v, p, &at.ChatFilter, nil) },
		"patterns": func(v *yaml.Node, p string) { f.Patterns = d.strList(v, p, &at.ChatFilter, nil) },
		"action":   func(v *yaml.Node, p string) { f.Action = d.str(v, p, nil) },
	})
}
