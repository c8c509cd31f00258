package main

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// dirChecker answers whether a path is a directory; tests pass a fake.
type dirChecker interface{ isDir(path string) error }

type osFS struct{}

func (osFS) isDir(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is a file, not a directory", path)
	}
	return nil
}

// validateConfig checks cross-references and values after decoding. It returns every
// problem it finds, in file order as far as possible.
// Keys whose value could not be decoded are skipped: that error is already reported,
// and a further complaint about the empty value would only be noise.
func validateConfig(cfg *config, fs dirChecker) configErrors {
	v := &validator{cfg: cfg}
	v.addr("listen.http", cfg.Proxy.HTTPAddr, false)
	v.addr("listen.https", cfg.Proxy.HTTPSAddr, true)
	v.addr("metrics", cfg.Metrics, true)
	if cfg.StateDir == "" {
		v.errorf("state_dir", "state_dir must not be empty; it holds certificates and state.json")
	}
	if cfg.AdminSocket == "" {
		v.errorf("admin_socket", "admin_socket must not be empty; the CLI talks to edge through it")
	}
	v.tls()
	apps := v.apps()
	v.sites(apps, fs)
	v.chat()
	return v.errs
}

type validator struct {
	cfg  *config
	errs configErrors
}

func (v *validator) errorf(key, format string, args ...any) {
	if v.cfg.unreadable[key] {
		return
	}
	v.errs = append(v.errs, configError{File: v.cfg.Path, Line: v.cfg.lines[key], Msg: fmt.Sprintf(format, args...)})
}

// addr checks a listen address: "host:port" or ":port", port 1–65535 (0 allowed for tests).
func (v *validator) addr(key, addr string, mayBeEmpty bool) {
	if addr == "" {
		if !mayBeEmpty {
			v.errorf(key, "%s must be an address such as \":80\" or \"127.0.0.1:8080\"", key)
		}
		return
	}
	if err := checkHostPort(addr); err != nil {
		v.errorf(key, "%s %q is not a valid address: %v", key, addr, err)
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

func (v *validator) tls() {
	switch ca := v.cfg.TLS.CA; ca {
	case "letsencrypt", "letsencrypt-staging":
	default:
		u, err := url.Parse(ca)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.errorf("tls.ca", "tls.ca must be letsencrypt, letsencrypt-staging or an ACME directory URL, not %q", ca)
		}
	}
	if e := v.cfg.TLS.Email; e != "" && !strings.Contains(e, "@") {
		v.errorf("tls.email", "tls.email %q is not an email address", e)
	}
	if f := v.cfg.CARootFile; f != "" {
		pem, err := os.ReadFile(f)
		switch {
		case err != nil:
			v.errorf("tls.ca_root", "tls.ca_root %q cannot be read: %v", f, unwrapPathError(err))
		case !bytes.Contains(pem, []byte("-----BEGIN CERTIFICATE-----")):
			v.errorf("tls.ca_root", "tls.ca_root %q holds no PEM certificate", f)
		default:
			v.cfg.TLS.CARootPEM = pem
		}
	}
}

func (v *validator) apps() map[string]bool {
	names := map[string]bool{}
	for _, a := range v.cfg.Proxy.Apps {
		key := "apps." + a.Name
		names[a.Name] = true
		if !appName.MatchString(a.Name) {
			v.errorf(key, "app name %q must be letters, digits, '-' or '_'", a.Name)
		}
		for _, c := range []struct{ color, addr string }{{"blue", a.Blue}, {"green", a.Green}} {
			if c.addr == "" {
				v.errorf(key, "app %q has no %s address; both blue and green are required", a.Name, c.color)
			} else if err := checkHostPort(c.addr); err != nil {
				v.errorf(key+"."+c.color, "app %q %s address %q is not valid: %v", a.Name, c.color, c.addr, err)
			}
		}
		if a.Blue != "" && a.Blue == a.Green {
			v.errorf(key+".green", "app %q has the same address %s for blue and green; a switch would change nothing", a.Name, a.Blue)
		}
		if h := a.Health; !strings.HasPrefix(h.Path, "/") {
			v.errorf(key+".health", "app %q health path %q must start with /", a.Name, h.Path)
		} else if h.Timeout > 0 && h.Interval > 0 && h.Timeout > h.Interval {
			v.errorf(key+".health", "app %q health timeout %s is longer than its interval %s", a.Name, h.Timeout, h.Interval)
		}
	}
	return names
}

var (
	appName  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	hostName = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

func (v *validator) sites(apps map[string]bool, fs dirChecker) {
	hostAt := map[string]string{}
	for i, s := range v.cfg.Proxy.Sites {
		where := fmt.Sprintf("sites[%d]", i)
		if len(s.Hosts) == 0 {
			v.errorf(where, "%s has no hosts; list the names it answers for", where)
		}
		for j, h := range s.Hosts {
			hk := fmt.Sprintf("%s.hosts[%d]", where, j)
			switch {
			case !hostName.MatchString(h):
				v.errorf(hk, "host %q is not a lowercase DNS name (no scheme, port or path; wildcards only as *.example.com)", h)
			case strings.HasPrefix(h, "*.") && v.cfg.Proxy.HTTPSAddr != "":
				v.errorf(hk, "host %q is a wildcard; its certificate would need the DNS-01 challenge, which edge does not do: list each name, or set listen.https to \"\"", h)
			case hostAt[h] != "":
				v.errorf(hk, "host %q is already listed at line %d; each host belongs to one site", h, v.cfg.lines[hostAt[h]])
			default:
				hostAt[h] = hk
			}
		}
		if len(s.Routes) == 0 {
			v.errorf(where, "%s has no routes", where)
		}
		paths := map[string]bool{}
		for j, r := range s.Routes {
			v.route(fmt.Sprintf("%s.routes[%d]", where, j), r.Path, r.App, r.Handler, r.Static != nil, paths, apps)
			if r.Static != nil && r.Static.Root != "" {
				// A missing directory is a warning, as in nginx and Caddy: the frontend
				// is often deployed after edge, and until then those paths answer 404.
				if err := fs.isDir(r.Static.Root); err != nil {
					key := fmt.Sprintf("%s.routes[%d]", where, j)
					v.cfg.Warnings = append(v.cfg.Warnings, configError{File: v.cfg.Path, Line: v.cfg.lines[key],
						Msg: fmt.Sprintf("static directory %q cannot be used yet (%v); its routes answer 404 until it exists", r.Static.Root, unwrapPathError(err))})
				}
			}
		}
	}
}

func (v *validator) route(key, path, app, handler string, static bool, paths, apps map[string]bool) {
	if !strings.HasPrefix(path, "/") {
		v.errorf(key, "route path %q must start with /", path)
	} else if paths[path] {
		v.errorf(key, "route path %q appears twice in the same site", path)
	}
	paths[path] = true
	targets := 0
	for _, set := range []bool{app != "", handler != "", static} {
		if set {
			targets++
		}
	}
	if targets != 1 {
		v.errorf(key, "route %q must have exactly one of app, chat: true or static", path)
	}
	if app != "" && !apps[app] {
		v.errorf(key, "route %q points at app %q, which is not defined under apps", path, app)
	}
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func (v *validator) chat() {
	c := v.cfg.Chat
	if c.NicknameLocale != "ko" && c.NicknameLocale != "en" {
		v.errorf("chat.nickname_locale", "chat.nickname_locale must be ko or en, not %q", c.NicknameLocale)
	}
	for _, o := range c.Origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			v.errorf("chat.origins", "chat origin %q must be scheme://host[:port], e.g. https://blog.example.com", o)
		}
	}
	mounts := map[string]bool{}
	for _, s := range v.cfg.Proxy.Sites {
		for _, r := range s.Routes {
			if r.Handler == "chat" {
				mounts[r.Path] = true
				v.cfg.Chat.Mount = r.Path
			}
		}
	}
	if len(mounts) > 1 {
		v.errorf("chat", "chat is mounted at %d different paths; use the same path in every site", len(mounts))
	}
}
