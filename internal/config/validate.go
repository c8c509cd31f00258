package config

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/edge-server/edge/proxy"
)

// FS is what validation asks of the file system. cmd/edge passes the real one; tests a
// fake. Errors should say what is wrong in a few words ("no such file or directory"),
// as they are quoted inside a sentence that already names the path.
type FS interface {
	// IsDir returns nil when path is a directory.
	IsDir(path string) error
	// ReadFile returns the contents of path (the tls.ca_root PEM file).
	ReadFile(path string) ([]byte, error)
}

// Validate checks cross-references and values after decoding. It returns every problem
// it finds, in file order as far as possible, and sets cfg.TLS.CARootPEM, cfg.Chat.Mount
// and cfg.Warnings. Values whose decoding failed are skipped (their error is reported).
func Validate(cfg *Config, fs FS) Errors {
	v := &validator{cfg: cfg}
	at := &cfg.At
	v.addr(at.ListenHTTP, "listen.http", cfg.Proxy.HTTPAddr, false)
	v.addr(at.ListenHTTPS, "listen.https", cfg.Proxy.HTTPSAddr, true)
	v.addr(at.Metrics, "metrics", cfg.Metrics, true)
	if cfg.StateDir == "" {
		v.errorf(at.StateDir, "state_dir must not be empty; it holds certificates and state.json")
	}
	if cfg.AdminSocket == "" {
		v.errorf(at.AdminSocket, "admin_socket must not be empty; the CLI talks to edge through it")
	}
	v.tls(fs)
	v.ownCerts(fs, time.Now())
	apps := v.apps()
	v.sites(apps, fs)
	v.chat()
	return v.errs
}

type validator struct {
	cfg  *Config
	errs Errors
}

func (v *validator) errorf(at Pos, format string, args ...any) {
	if at.Bad {
		return
	}
	v.errs = append(v.errs, Error{File: v.cfg.Path, Line: at.Line, Msg: fmt.Sprintf(format, args...)})
}

// addr checks a listen address: "host:port" or ":port", port 1–65535 (0 allowed for tests).
func (v *validator) addr(at Pos, key, addr string, mayBeEmpty bool) {
	if addr == "" {
		if !mayBeEmpty {
			v.errorf(at, "%s must be an address such as \":80\" or \"127.0.0.1:8080\"", key)
		}
		return
	}
	if err := checkHostPort(addr); err != nil {
		v.errorf(at, "%s %q is not a valid address: %v", key, addr, err)
	}
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port, e.g. 127.0.0.1:3000")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if strings.ContainsAny(host, "/ ") {
		return fmt.Errorf("host %q has characters a host name cannot have", host)
	}
	return nil
}

func (v *validator) tls(fs FS) {
	at := &v.cfg.At
	cas := v.cfg.TLS.CAs
	if len(cas) == 0 {
		cas = []string{v.cfg.TLS.CA}
	}
	for _, ca := range cas {
		switch ca {
		case "letsencrypt", "letsencrypt-staging":
		default:
			u, err := url.Parse(ca)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				v.errorf(at.TLSCA, "tls.ca must be letsencrypt, letsencrypt-staging or an ACME directory URL, not %q", ca)
			}
		}
	}
	if e := v.cfg.TLS.Email; e != "" && !strings.Contains(e, "@") {
		v.errorf(at.TLSEmail, "tls.email %q is not an email address", e)
	}
	if f := v.cfg.CARootFile; f != "" {
		pem, err := fs.ReadFile(f)
		switch {
		case err != nil:
			v.errorf(at.TLSCARoot, "tls.ca_root %q cannot be read: %v", f, err)
		case !bytes.Contains(pem, []byte("-----BEGIN CERTIFICATE-----")):
			v.errorf(at.TLSCARoot, "tls.ca_root %q holds no PEM certificate", f)
		default:
			v.cfg.TLS.CARootPEM = pem
		}
	}
}

func (v *validator) apps() map[string]bool {
	names := map[string]bool{}
	for i, a := range v.cfg.Proxy.Apps {
		at := v.cfg.At.App(i)
		names[a.Name] = true
		if !appName.MatchString(a.Name) {
			v.errorf(at.Name, "app name %q must be letters, digits, '-' or '_'", a.Name)
		}
		v.replicas(a, at)
		if h := a.Health; !strings.HasPrefix(h.Path, "/") {
			v.errorf(at.Health, "app %q health path %q must start with /", a.Name, h.Path)
		}
	}
	return names
}

// replicas checks the blue and green address lists of one app: at least one each,
// each a host:port, none twice in the app (in one color or across both).
func (v *validator) replicas(a proxy.AppConfig, at AppPositions) {
	seen := map[string]string{}
	for _, c := range []struct {
		color string
		addrs []string
		at    Pos
		items []Pos
	}{{"blue", a.Blue, at.Blue, at.BlueItems}, {"green", a.Green, at.Green, at.GreenItems}} {
		if len(c.addrs) == 0 {
			where := at.Name
			if c.at.Line > 0 {
				where = c.at
			}
			v.errorf(where, "app %q has no %s address (an empty list counts as none); both blue and green need at least one host:port", a.Name, c.color)
			continue
		}
		if len(c.addrs) > proxy.MaxReplicas {
			v.errorf(c.at, "app %q lists %d %s replicas; at most %d are allowed", a.Name, len(c.addrs), c.color, proxy.MaxReplicas)
		}
		for i, addr := range c.addrs {
			pos := c.at
			if i < len(c.items) {
				pos = c.items[i]
			}
			if err := checkHostPort(addr); err != nil {
				v.errorf(pos, "app %q %s address %q is not valid: %v", a.Name, c.color, addr, err)
				continue
			}
			switch was, dup := seen[addr]; {
			case dup && was == c.color:
				v.errorf(pos, "app %q lists %s twice for %s; each replica once", a.Name, addr, c.color)
			case dup:
				v.errorf(pos, "app %q has the same address %s for blue and green; a switch would change nothing", a.Name, addr)
			}
			seen[addr] = c.color
		}
	}
}

var (
	appName  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	hostName = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

func (v *validator) sites(apps map[string]bool, fs FS) {
	hostAt := map[string]Pos{}
	for i, s := range v.cfg.Proxy.Sites {
		at := v.cfg.At.Site(i)
		where := fmt.Sprintf("sites[%d]", i)
		if len(s.Hosts) == 0 {
			v.errorf(at.Site, "%s has no hosts; list the names it answers for", where)
		}
		for j, h := range s.Hosts {
			hat := at.Host(j)
			first, seen := hostAt[h]
			switch {
			case !hostName.MatchString(h):
				v.errorf(hat, "host %q is not a lowercase DNS name (no scheme, port or path; wildcards only as *.example.com)", h)
			case strings.HasPrefix(h, "*.") && v.cfg.Proxy.HTTPSAddr != "":
				v.errorf(hat, "host %q is a wildcard; its certificate would need the DNS-01 challenge, which edge does not do: list each name, or set listen.https to \"\"", h)
			case seen:
				v.errorf(hat, "host %q is already listed at line %d; each host belongs to one site", h, first.Line)
			default:
				hostAt[h] = hat
			}
		}
		switch {
		case s.Redirect != "" && len(s.Routes) > 0:
			v.errorf(at.Redirect, "%s redirects every request, so its routes would never be used; remove them or the redirect", where)
		case len(s.Routes) == 0 && s.Redirect == "":
			v.errorf(at.Site, "%s has no routes", where)
		}
		paths := map[string]bool{}
		for j, r := range s.Routes {
			rat := at.Route(j)
			v.route(rat, r.Path, r.App, r.Handler, r.Static != nil, r.Redirect != nil, paths, apps)
			if files := StaticFiles(r); files != nil && files.Root != "" {
				// A missing directory is a warning, as in nginx and Caddy: the frontend
				// is often deployed after edge, and until then those paths answer 404.
				if err := fs.IsDir(files.Root); err != nil {
					v.cfg.Warnings = append(v.cfg.Warnings, Error{File: v.cfg.Path, Line: rat.Line,
						Msg: fmt.Sprintf("static directory %q cannot be used yet (%v); its routes answer 404 until it exists", files.Root, err)})
				}
			}
		}
	}
}

func (v *validator) route(at Pos, path, app, handler string, static, redirect bool, paths, apps map[string]bool) {
	if !strings.HasPrefix(path, "/") {
		v.errorf(at, "route path %q must start with /", path)
	} else if paths[path] {
		v.errorf(at, "route path %q appears twice in the same site", path)
	}
	paths[path] = true
	targets := 0
	for _, set := range []bool{app != "", handler != "", static, redirect} {
		if set {
			targets++
		}
	}
	if targets != 1 {
		v.errorf(at, "route %q must have exactly one of app, chat: true, static or redirect", path)
	}
	if app != "" && !apps[app] {
		v.errorf(at, "route %q points at app %q, which is not defined under apps", path, app)
	}
}

func (v *validator) chat() {
	c := v.cfg.Chat
	at := &v.cfg.At
	if c.NicknameLocale != "ko" && c.NicknameLocale != "en" {
		v.errorf(at.ChatNicknameLocale, "chat.nickname_locale must be ko or en, not %q", c.NicknameLocale)
	}
	for _, o := range c.Origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			v.errorf(at.ChatOrigins, "chat origin %q must be scheme://host[:port], e.g. https://blog.example.com", o)
		}
	}
	if err := c.Filter.Check(); err != nil && !at.ChatFilter.Bad {
		v.errorf(at.ChatFilter, "chat.%v", err)
	}
	mounts := map[string]bool{}
	// The problem is reported at the chat section, or where there is none, at the
	// route that mounts chat at a second path.
	report := at.Chat
	for i, s := range v.cfg.Proxy.Sites {
		for j, r := range s.Routes {
			if r.Handler == "chat" {
				mounts[r.Path] = true
				v.cfg.Chat.Mount = r.Path
				if len(mounts) == 2 && report.Line == 0 {
					report = at.Site(i).Route(j)
				}
			}
		}
	}
	if len(mounts) > 1 {
		v.errorf(report, "chat is mounted at %d different paths; use the same path in every site", len(mounts))
	}
}
