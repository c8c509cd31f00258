package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/edge-server/edge/internal/config"
	"github.com/edge-server/edge/proxy"
)

// reloadable is what a reload hands the new proxy settings to; *proxy.Proxy's
// Reload(proxy.Config) error satisfies it. It must apply all of cfg or none of it.
type reloadable interface{ Reload(proxy.Config) error }

// reloadStep applies a new config to one part of edge. apply is also called with the
// previous config to undo the step when a later step fails.
type reloadStep struct {
	name  string
	apply func(next *config.Config) error
}

// reloader re-reads the config file on SIGHUP and POST /reload (both call
// reloadConfig). A file that does not validate, or changes something only a restart
// can change, is rejected with every reason and the running config stays in force.
type reloader struct {
	path    string
	load    func(path string) (*config.Config, error)
	log     *zap.Logger
	notify  *notifier
	metrics *promMetrics

	mu              sync.Mutex // one reload at a time; guards the fields below
	current         *config.Config
	steps           []reloadStep
	certsReloadable bool // a certificates step is registered
}

func newReloader(cfg *config.Config, log *zap.Logger, n *notifier, m *promMetrics) *reloader {
	return &reloader{path: cfg.Path, load: loadConfig, log: log.Named("reload"), notify: n, metrics: m, current: cfg}
}

// addStep registers a part of edge to reconfigure, in apply order.
func (r *reloader) addStep(name string, apply func(next *config.Config) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, reloadStep{name: name, apply: apply})
}

// addProxy makes reloads reconfigure the proxy: routes, sites, apps, limits and HSTS.
// started is the proxy.Config the proxy was built with (listeners, tls.Config, handlers,
// callbacks filled in); reloads start from it and replace only what the file controls.
func (r *reloader) addProxy(p reloadable, started proxy.Config) {
	r.mu.Lock()
	r.current.Proxy = started
	r.mu.Unlock()
	r.addStep("proxy", func(next *config.Config) error { return p.Reload(next.Proxy) })
}

// addCertificates makes reloads hand the certificate manager the new list of exact host
// names (new hosts get certificates, removed ones stop renewing). Without it, a reload
// that changes the hosts while HTTPS is on is rejected with "restart edge".
func (r *reloader) addCertificates(apply func(hosts []string) error) {
	r.mu.Lock()
	r.certsReloadable = true
	r.mu.Unlock()
	r.addStep("certificates", func(next *config.Config) error { return apply(certHosts(next)) })
}

// certHosts are the names certificates are managed for over ACME: every exact site
// host (a "*" wildcard gets none) of a site without its own certificate (tls: {cert,
// key}), in config order, once each. A redirecting site's hosts are included: the
// www → apex redirect needs a certificate for www too.
func certHosts(cfg *config.Config) []string {
	var hosts []string
	seen := map[string]bool{}
	for _, oc := range cfg.OwnCerts {
		for _, h := range oc.Hosts {
			seen[h] = true
		}
	}
	for _, s := range cfg.Proxy.Sites {
		for _, h := range s.Hosts {
			if !strings.Contains(h, "*") && !seen[h] {
				seen[h] = true
				hosts = append(hosts, h)
			}
		}
	}
	return hosts
}

// config is the config in force.
func (r *reloader) config() *config.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current
}

// reloadConfig re-reads and validates the config file and applies it. It returns nil
// when the new config serves, or an error saying why it was rejected (the previous
// config keeps serving). systemd sees RELOADING=1 and then READY=1 either way.
func (r *reloader) reloadConfig(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	r.warnIf(r.notify.reloading())
	err := r.apply(ctx)
	if err != nil {
		r.metrics.ConfigReload(false)
		r.log.Warn("config reload rejected; still serving the previous config", zap.String("config", r.path), zap.Error(err))
		r.warnIf(r.notify.ready(fmt.Sprintf("%s; reload at %s rejected: %s", serviceSummary(r.current), start.Format(time.TimeOnly), firstLine(err))))
		return err
	}
	r.metrics.ConfigReload(true)
	r.log.Info("config reloaded", zap.String("config", r.path), zap.Duration("took", time.Since(start)),
		zap.Int("apps", len(r.current.Proxy.Apps)), zap.Int("sites", len(r.current.Proxy.Sites)))
	for _, w := range r.current.Warnings {
		r.log.Warn("config warning", zap.String("warning", w.Error()))
	}
	r.warnIf(r.notify.ready(fmt.Sprintf("%s; reloaded at %s", serviceSummary(r.current), start.Format(time.TimeOnly))))
	return nil
}

func (r *reloader) apply(ctx context.Context) error {
	next, err := r.load(r.path)
	if err != nil {
		return fmt.Errorf("the new config is not valid:\n%w", err)
	}
	errs := restartOnlyChanges(r.current, next)
	if !r.certsReloadable && next.Proxy.HTTPSAddr != "" && !slices.Equal(certHosts(r.current), certHosts(next)) {
		errs = append(errs, config.Error{File: next.Path, Line: next.At.Site(0).Site.Line,
			Msg: "the site hosts changed while HTTPS is on; this build obtains certificates for new hosts only at start: systemctl restart edge"})
	}
	if len(errs) > 0 {
		return fmt.Errorf("the new config changes settings a reload cannot apply; nothing was changed:\n%w", errs)
	}
	carryRuntime(r.current, next)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("reload abandoned: %w", err)
	}
	for i, s := range r.steps {
		if err := s.apply(next); err != nil {
			r.undo(i)
			return fmt.Errorf("%s refused the new config; the previous one is back in force: %w", s.name, err)
		}
	}
	r.current = next
	r.metrics.configure(next)
	return nil
}

// undo re-applies the running config to the steps before the one that failed.
func (r *reloader) undo(failed int) {
	for i := failed - 1; i >= 0; i-- {
		if err := r.steps[i].apply(r.current); err != nil {
			r.log.Error("could not restore the previous config after a failed reload; restart edge",
				zap.String("part", r.steps[i].name), zap.Error(err))
		}
	}
}

// watch reloads on every signal from sigs (SIGHUP) until ctx ends.
func (r *reloader) watch(ctx context.Context, sigs <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sigs:
			r.log.Info("SIGHUP: reloading config", zap.String("config", r.path))
			_ = r.reloadConfig(ctx) // logs its own outcome
		}
	}
}

func (r *reloader) warnIf(err error) {
	if err != nil {
		r.log.Warn("sd_notify failed", zap.Error(err))
	}
}

// carryRuntime moves what edge built at start (listeners, tls.Config, ACME and chat
// handlers, callbacks, the chat secret) from the running config into the new one, and
// keeps the proxy settings a reload does not own. The proxy part of next becomes the
// running proxy config with only HSTS, Apps, Sites and Limits taken from the file.
func carryRuntime(running, next *config.Config) {
	p := running.Proxy
	p.HSTS = next.Proxy.HSTS
	p.Apps = next.Proxy.Apps
	p.Sites = next.Proxy.Sites
	p.Limits = next.Proxy.Limits
	next.Proxy = p
	hosts := next.TLS.Hosts
	next.TLS = running.TLS
	if hosts != nil {
		next.TLS.Hosts = hosts
	}
	filter := next.Chat.Filter // the one chat setting a reload applies (Hub.SetFilter)
	next.Chat = running.Chat
	next.Chat.Filter = filter
	next.Cluster = running.Cluster
}

// restartOnlyChanges lists settings that differ between the running and the new config
// but are only read at start (listeners, sockets, directories, the ACME account, chat).
func restartOnlyChanges(running, next *config.Config) config.Errors {
	var errs config.Errors
	at := &next.At
	check := func(key string, where config.Pos, changed bool, was, now any) {
		if changed {
			errs = append(errs, config.Error{File: next.Path, Line: where.Line,
				Msg: fmt.Sprintf("%s changed (%v → %v); this needs a restart: systemctl restart edge", key, was, now)})
		}
	}
	str := func(key string, where config.Pos, was, now string) {
		check(key, where, was != now, quoteOrEmpty(was), quoteOrEmpty(now))
	}
	str("listen.http", at.ListenHTTP, running.Proxy.HTTPAddr, next.Proxy.HTTPAddr)
	str("listen.https", at.ListenHTTPS, running.Proxy.HTTPSAddr, next.Proxy.HTTPSAddr)
	str("state_dir", at.StateDir, running.StateDir, next.StateDir)
	str("admin_socket", at.AdminSocket, running.AdminSocket, next.AdminSocket)
	str("metrics", at.Metrics, running.Metrics, next.Metrics)
	check("access_log", at.AccessLog, running.AccessLog != next.AccessLog, running.AccessLog, next.AccessLog)
	// The proxy's servers are built once with these (proxy.Server.Reload keeps them).
	check("limits", at.Limits, running.Proxy.Limits != next.Proxy.Limits, "the running limits", "new limits")
	check("tls.hsts", at.TLSHSTS, running.Proxy.HSTS != next.Proxy.HSTS, running.Proxy.HSTS, next.Proxy.HSTS)
	str("tls.email", at.TLSEmail, running.TLS.Email, next.TLS.Email)
	str("tls.ca", at.TLSCA, running.TLS.CA, next.TLS.CA)
	check("tls.ca_root", at.TLSCARoot, running.CARootFile != next.CARootFile || !bytes.Equal(running.TLS.CARootPEM, next.TLS.CARootPEM),
		quoteOrEmpty(running.CARootFile), quoteOrEmpty(next.CARootFile)+" (or its contents)")
	check("cluster.database_url", at.ClusterDatabaseURL, running.Cluster.DatabaseURL != next.Cluster.DatabaseURL, "(hidden)", "(hidden, different)")
	str("cluster.name", at.ClusterName, running.Cluster.Name, next.Cluster.Name)
	check("cluster.heartbeat", at.ClusterHeartbeat, running.Cluster.Heartbeat != next.Cluster.Heartbeat, running.Cluster.Heartbeat, next.Cluster.Heartbeat)
	check("chat", at.Chat, running.ChatEnabled != next.ChatEnabled, chatOnOff(running.ChatEnabled), chatOnOff(next.ChatEnabled))
	if running.ChatEnabled && next.ChatEnabled {
		str("chat", at.Chat, running.Chat.Mount, next.Chat.Mount)
		check("chat.database_url", at.ChatDatabaseURL, running.Chat.DatabaseURL != next.Chat.DatabaseURL, "(hidden)", "(hidden, different)")
		check("chat.origins", at.ChatOrigins, !slices.Equal(running.Chat.Origins, next.Chat.Origins), running.Chat.Origins, next.Chat.Origins)
		str("chat.nickname_locale", at.ChatNicknameLocale, running.Chat.NicknameLocale, next.Chat.NicknameLocale)
		check("chat.session_rate, session_burst or rooms_per_addr_hour", at.Chat,
			running.Chat.SessionRate != next.Chat.SessionRate || running.Chat.SessionBurst != next.Chat.SessionBurst ||
				running.Chat.RoomsPerAddrHour != next.Chat.RoomsPerAddrHour, "the running limits", "new limits")
		if len(next.Chat.Secret) > 0 {
			check("chat.secret", at.ChatSecret, !bytes.Equal(running.Chat.Secret, next.Chat.Secret), "(hidden)", "(hidden, different)")
		}
	}
	return errs
}

func quoteOrEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return fmt.Sprintf("%q", s)
}

func chatOnOff(on bool) string {
	if on {
		return "chat route present"
	}
	return "no chat route"
}

// serviceSummary is the STATUS= line systemctl status shows.
func serviceSummary(cfg *config.Config) string {
	hosts := 0
	for _, s := range cfg.Proxy.Sites {
		hosts += len(s.Hosts)
	}
	return fmt.Sprintf("serving %d host(s), %d app(s)", hosts, len(cfg.Proxy.Apps))
}

func firstLine(err error) string {
	var errs config.Errors
	if errors.As(err, &errs) && len(errs) > 0 {
		return errs[0].Error()
	}
	s := err.Error()
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
