package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/edge-server/edge/internal/config"
)

func init() { register("validate", "check a config file and print what would run", cmdValidate) }

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", "validate [--config FILE]", stdout)
	path := fs.String("config", defaultConfigPath, "config file")
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	if code, done := noExtraArgs(fs, stderr); done {
		return code
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			fmt.Fprintf(stderr, "%s\n%d problem(s) in %s\n", errs, len(errs), *path)
		} else {
			fmt.Fprintf(stderr, "edge validate: %v\n", err)
		}
		return 1
	}
	fmt.Fprint(stdout, summarize(cfg))
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	return 0
}

// summarize is a one-screen description of what `edge run` would do with cfg.
func summarize(cfg *config.Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is valid.\n\n", cfg.Path)
	if cfg.Proxy.HTTPSAddr == "" {
		fmt.Fprintf(&b, "listen   http %s (plain HTTP only, no certificates)\n", cfg.Proxy.HTTPAddr)
	} else {
		fmt.Fprintf(&b, "listen   http %s → redirect, https %s\n", cfg.Proxy.HTTPAddr, cfg.Proxy.HTTPSAddr)
		ca := cfg.TLS.CA
		if len(cfg.TLS.CAs) > 1 {
			ca = strings.Join(cfg.TLS.CAs, " then ")
		}
		fmt.Fprintf(&b, "tls      ca %s, email %q, hsts %v\n", ca, cfg.TLS.Email, cfg.Proxy.HSTS)
		for _, oc := range cfg.OwnCerts {
			fmt.Fprintf(&b, "tls      own certificate %s for %s (no ACME)\n", oc.Cert, strings.Join(oc.Hosts, ", "))
		}
	}
	fmt.Fprintf(&b, "state    %s   admin %s   metrics %s\n", cfg.StateDir, cfg.AdminSocket, orOff(cfg.Metrics))
	for _, a := range cfg.Proxy.Apps {
		fmt.Fprintf(&b, "app      %s: blue %s, green %s, health GET %s every %s, drain %s\n",
			a.Name, strings.Join(a.Blue, " "), strings.Join(a.Green, " "), a.Health.Path, a.Health.Interval, a.Drain)
	}
	for _, s := range cfg.Proxy.Sites {
		fmt.Fprintf(&b, "site     %s%s\n", strings.Join(s.Hosts, ", "), siteExtras(s))
		for _, r := range s.Routes {
			fmt.Fprintf(&b, "           %-12s → %s%s\n", r.Path, routeTarget(r.App, r.Handler, r.Static != nil, staticRoot(config.StaticFiles(r))), routeExtras(r))
		}
	}
	if cfg.ChatEnabled {
		store := "Postgres"
		if cfg.Chat.DatabaseURL == "" {
			store = "IN-MEMORY (messages are lost on restart)"
		}
		fmt.Fprintf(&b, "chat     at %s, store %s, nicknames %s, origins %v\n", cfg.Chat.Mount, store, cfg.Chat.NicknameLocale, cfg.Chat.Origins)
	}
	return b.String()
}
