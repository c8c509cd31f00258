package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/edge-server/edge/proxy"
)

// maxConfigBytes refuses absurd files before parsing them (a config is a few KiB).
const maxConfigBytes = 1 << 20

// loadConfig reads, decodes and validates a config file. Errors are configErrors with
// file:line, or a plain error when the file cannot be read at all.
func loadConfig(path string) (*config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	return checkConfig(path, data, os.LookupEnv, osFS{})
}

// readConfigFile reads at most maxConfigBytes of a config file.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading config %s: %w", path, err)
	}
	if len(data) > maxConfigBytes {
		return nil, fmt.Errorf("config %s is larger than %d bytes; is it the right file?", path, maxConfigBytes)
	}
	return data, nil
}

// checkConfig parses and validates, returning every problem from both steps together.
func checkConfig(path string, data []byte, lookup func(string) (string, bool), fs dirChecker) (*config, error) {
	cfg, err := parseConfig(path, data, lookup)
	var errs configErrors
	if err != nil && (!errors.As(err, &errs) || cfg == nil) {
		return nil, err
	}
	errs = append(errs, validateConfig(cfg, fs)...)
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return cfg, errs
	}
	return cfg, nil
}

// parseConfig decodes YAML into a config with defaults filled. It does not validate
// cross-references or touch the file system; validateConfig does.
func parseConfig(file string, data []byte, lookup func(string) (string, bool)) (*config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, configErrors{{File: file, Msg: "the file is empty; see configs/edge.example.yaml"}}
		}
		return nil, configErrors{{File: file, Line: yamlErrorLine(err), Msg: "not valid YAML: " + yamlErrorText(err)}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, configErrors{{File: file, Line: extra.Line, Msg: "the file holds more than one YAML document; edge reads exactly one"}}
	}
	cfg := newDefaultConfig(file)
	d := &decoder{file: file, lookup: lookup, unreadable: cfg.unreadable}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	d.mapping(doc, "the top level", map[string]func(*yaml.Node){
		"state_dir":    func(n *yaml.Node) { cfg.StateDir = d.str(n, "state_dir"); cfg.lines["state_dir"] = n.Line },
		"admin_socket": func(n *yaml.Node) { cfg.AdminSocket = d.str(n, "admin_socket"); cfg.lines["admin_socket"] = n.Line },
		"metrics":      func(n *yaml.Node) { cfg.Metrics = d.str(n, "metrics"); cfg.lines["metrics"] = n.Line },
		"access_log":   func(n *yaml.Node) { cfg.AccessLog = d.boolean(n, "access_log") },
		"listen":       func(n *yaml.Node) { d.listen(n, cfg) },
		"tls":          func(n *yaml.Node) { d.tls(n, cfg) },
		"apps":         func(n *yaml.Node) { d.apps(n, cfg) },
		"sites":        func(n *yaml.Node) { d.sites(n, cfg) },
		"chat":         func(n *yaml.Node) { d.chat(n, cfg) },
		"limits":       func(n *yaml.Node) { d.limits(n, cfg) },
		"cluster":      func(n *yaml.Node) { d.cluster(n, cfg) },
	})
	if len(d.errs) > 0 {
		return cfg, d.errs
	}
	return cfg, nil
}

func (d *decoder) listen(n *yaml.Node, cfg *config) {
	d.mapping(n, "listen", map[string]func(*yaml.Node){
		"http":  func(v *yaml.Node) { cfg.Proxy.HTTPAddr = d.str(v, "listen.http"); cfg.lines["listen.http"] = v.Line },
		"https": func(v *yaml.Node) { cfg.Proxy.HTTPSAddr = d.str(v, "listen.https"); cfg.lines["listen.https"] = v.Line },
	})
}

func (d *decoder) tls(n *yaml.Node, cfg *config) {
	d.mapping(n, "tls", map[string]func(*yaml.Node){
		"email":   func(v *yaml.Node) { cfg.TLS.Email = d.str(v, "tls.email"); cfg.lines["tls.email"] = v.Line },
		"ca":      func(v *yaml.Node) { cfg.TLS.CA = d.str(v, "tls.ca"); cfg.lines["tls.ca"] = v.Line },
		"ca_root": func(v *yaml.Node) { cfg.CARootFile = d.str(v, "tls.ca_root"); cfg.lines["tls.ca_root"] = v.Line },
		"hsts":    func(v *yaml.Node) { cfg.Proxy.HSTS = d.boolean(v, "tls.hsts") },
	})
}

func (d *decoder) limits(n *yaml.Node, cfg *config) {
	l := &cfg.Proxy.Limits
	d.mapping(n, "limits", map[string]func(*yaml.Node){
		"max_header_bytes": func(v *yaml.Node) { l.MaxHeaderBytes = d.positiveInt(v, "limits.max_header_bytes") },
		"max_body_bytes":   func(v *yaml.Node) { l.MaxBodyBytes = d.positiveInt(v, "limits.max_body_bytes") },
		"read_timeout":     func(v *yaml.Node) { l.ReadTimeout = d.duration(v, "limits.read_timeout") },
		"write_timeout":    func(v *yaml.Node) { l.WriteTimeout = d.duration(v, "limits.write_timeout") },
		"idle_timeout":     func(v *yaml.Node) { l.IdleTimeout = d.duration(v, "limits.idle_timeout") },
		"upstream_timeout": func(v *yaml.Node) { l.UpstreamTimeout = d.duration(v, "limits.upstream_timeout") },
	})
}

func (d *decoder) apps(n *yaml.Node, cfg *config) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "apps must be a mapping of app names to their settings, not %s", describe(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		app := proxy.AppConfig{Name: k.Value, Health: defaultHealth, Drain: defaultDrain}
		where := "apps." + k.Value
		cfg.lines[where] = k.Line
		d.mapping(v, where, map[string]func(*yaml.Node){
			"blue":   func(x *yaml.Node) { app.Blue = d.str(x, where+".blue"); cfg.lines[where+".blue"] = x.Line },
			"green":  func(x *yaml.Node) { app.Green = d.str(x, where+".green"); cfg.lines[where+".green"] = x.Line },
			"drain":  func(x *yaml.Node) { app.Drain = d.duration(x, where+".drain") },
			"health": func(x *yaml.Node) { d.health(x, where+".health", &app.Health, cfg) },
		})
		cfg.Proxy.Apps = append(cfg.Proxy.Apps, app)
	}
}

func (d *decoder) health(n *yaml.Node, where string, h *proxy.HealthConfig, cfg *config) {
	cfg.lines[where] = n.Line
	d.mapping(n, where, map[string]func(*yaml.Node){
		"path":     func(v *yaml.Node) { h.Path = d.str(v, where+".path") },
		"interval": func(v *yaml.Node) { h.Interval = d.duration(v, where+".interval") },
		"timeout":  func(v *yaml.Node) { h.Timeout = d.duration(v, where+".timeout") },
		"rise":     func(v *yaml.Node) { h.Rise = d.positiveInt(v, where+".rise") },
		"fall":     func(v *yaml.Node) { h.Fall = d.positiveInt(v, where+".fall") },
	})
}

func (d *decoder) sites(n *yaml.Node, cfg *config) {
	d.sequence(n, "sites", func(i int, item *yaml.Node) {
		site := proxy.SiteConfig{}
		where := fmt.Sprintf("sites[%d]", i)
		cfg.lines[where] = item.Line
		d.mapping(item, where, map[string]func(*yaml.Node){
			"hosts": func(v *yaml.Node) {
				site.Hosts = d.strList(v, where+".hosts")
				for j, h := range v.Content {
					cfg.lines[fmt.Sprintf("%s.hosts[%d]", where, j)] = h.Line
				}
				if v.Kind == yaml.ScalarNode {
					cfg.lines[where+".hosts[0]"] = v.Line
				}
			},
			"routes": func(v *yaml.Node) {
				d.sequence(v, where+".routes", func(j int, r *yaml.Node) {
					site.Routes = append(site.Routes, d.route(r, fmt.Sprintf("%s.routes[%d]", where, j), cfg))
				})
			},
		})
		cfg.Proxy.Sites = append(cfg.Proxy.Sites, site)
	})
}

func (d *decoder) route(n *yaml.Node, where string, cfg *config) proxy.RouteConfig {
	r := proxy.RouteConfig{}
	cfg.lines[where] = n.Line
	var static proxy.StaticConfig
	staticKeys := false
	isChat := false
	d.mapping(n, where, map[string]func(*yaml.Node){
		"path": func(v *yaml.Node) { r.Path = d.str(v, where+".path") },
		"app":  func(v *yaml.Node) { r.App = d.str(v, where+".app") },
		"chat": func(v *yaml.Node) { isChat = d.boolean(v, where+".chat") },
		"static": func(v *yaml.Node) {
			static.Root = d.str(v, where+".static")
			r.Static = &static
		},
		"spa":           func(v *yaml.Node) { static.SPA = d.boolean(v, where+".spa"); staticKeys = true },
		"cache_control": func(v *yaml.Node) { static.CacheControl = d.str(v, where+".cache_control"); staticKeys = true },
		"immutable_cache_control": func(v *yaml.Node) {
			static.ImmutableCacheControl = d.str(v, where+".immutable_cache_control")
			staticKeys = true
		},
		"compress": func(v *yaml.Node) { static.Compress = d.boolean(v, where+".compress"); staticKeys = true },
	})
	if r.Static != nil && !hasKey(n, "compress") {
		static.Compress = true
	}
	if staticKeys && r.Static == nil {
		d.errorf(n, "%s sets spa/cache_control/compress but has no static directory", where)
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

func (d *decoder) chat(n *yaml.Node, cfg *config) {
	cfg.lines["chat"] = n.Line
	d.mapping(n, "chat", map[string]func(*yaml.Node){
		"database_url": func(v *yaml.Node) { cfg.Chat.DatabaseURL = d.str(v, "chat.database_url") },
		"origins": func(v *yaml.Node) {
			cfg.Chat.Origins = d.strList(v, "chat.origins")
			cfg.lines["chat.origins"] = v.Line
		},
		"nickname_locale": func(v *yaml.Node) {
			cfg.Chat.NicknameLocale = d.str(v, "chat.nickname_locale")
			cfg.lines["chat.nickname_locale"] = v.Line
		},
		"secret": func(v *yaml.Node) {
			cfg.Chat.Secret = []byte(d.str(v, "chat.secret"))
			cfg.lines["chat.secret"] = v.Line
		},
		"max_conns_per_ip": func(v *yaml.Node) { cfg.Chat.MaxConnsPerIP = d.positiveInt(v, "chat.max_conns_per_ip") },
		"message_rate":     func(v *yaml.Node) { cfg.Chat.MessageRate = float64(d.positiveInt(v, "chat.message_rate")) },
		"message_burst":    func(v *yaml.Node) { cfg.Chat.MessageBurst = d.positiveInt(v, "chat.message_burst") },
	})
}
