package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/edge-server/edge/internal/config"
)

func init() {
	register("doctor", "check config, ports, DNS, upstreams, database, certificates and the admin socket", cmdDoctor)
}

// doctorResolver is the DNS lookup doctor uses; *net.Resolver satisfies it, tests pass
// a fake so they never leave loopback.
type doctorResolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// doctor checks one config against the machine it runs on.
type doctor struct {
	cfg      *config.Config
	socket   string
	resolver doctorResolver
	expectIP netip.Addr // invalid: not checked
	timeout  time.Duration
	now      func() time.Time
	envNote  string // how the environment file was used, for the header

	running bool              // the admin socket answered GET /status
	active  map[string]string // app → active color, from /status
	out     io.Writer
	fails   int
}

func cmdDoctor(args []string, stdout, stderr io.Writer) int {
	return doctorMain(args, stdout, stderr, net.DefaultResolver, time.Now)
}

// doctorMain is cmdDoctor with the resolver and clock chosen by the caller (tests).
func doctorMain(args []string, stdout, stderr io.Writer, resolver doctorResolver, now func() time.Time) int {
	fs := newFlags("doctor", "doctor [--config FILE] [--expect-ip IP] [--socket PATH] [--env-file FILE]", stdout)
	path := fs.String("config", defaultConfigPath, "config file to check")
	expect := fs.String("expect-ip", "", "public IP every site host must resolve to (the VM's elastic/static IP)")
	socket := fs.String("socket", "", "admin socket (default: admin_socket from the config)")
	envFile := fs.String("env-file", defaultEnvFile, "EnvironmentFile of edge.service, for ${VAR} in the config")
	timeout := fs.Duration("timeout", 5*time.Second, "time limit of each network check")
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	if code, done := noExtraArgs(fs, stderr); done {
		return code
	}
	d := &doctor{resolver: resolver, timeout: *timeout, now: now, out: stdout}
	if *expect != "" {
		ip, err := netip.ParseAddr(*expect)
		if err != nil {
			fmt.Fprintf(stderr, "edge doctor: --expect-ip %q is not an IP address\n", clip(*expect))
			return 2
		}
		d.expectIP = ip.Unmap()
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "edge doctor: --timeout must be positive")
		return 2
	}
	lookup, note := envLookup(*envFile, *envFile != defaultEnvFile)
	d.envNote = note
	cfg, err := loadConfigWith(*path, lookup)
	d.cfg = cfg
	if *socket != "" {
		d.socket = *socket
	} else if cfg != nil {
		d.socket = cfg.AdminSocket
	}
	return d.run(context.Background(), err)
}

// loadConfigWith is loadConfig with a chosen environment.
func loadConfigWith(path string, lookup func(string) (string, bool)) (*config.Config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Check(path, data, lookup, osFS{})
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// run prints every check and returns the exit code: 1 if anything failed.
func (d *doctor) run(ctx context.Context, cfgErr error) int {
	if d.envNote != "" {
		d.note(d.envNote)
	}
	if cfgErr != nil {
		var errs config.Errors
		if errors.As(cfgErr, &errs) {
			d.fail(fmt.Sprintf("config has %d problem(s):\n    %s", len(errs), strings.ReplaceAll(errs.Error(), "\n", "\n    ")),
				"edit the file; `edge validate --config FILE` lists the same problems")
		} else {
			d.fail("config: "+cfgErr.Error(), "pass the right file with --config (default "+defaultConfigPath+")")
		}
		return d.summary()
	}
	d.pass(fmt.Sprintf("config %s is valid: %s", d.cfg.Path, serviceSummary(d.cfg)))
	for _, w := range d.cfg.Warnings {
		d.note("config: " + w.Error())
	}
	d.checkDaemon(ctx)
	d.checkPorts()
	d.checkDNS(ctx)
	d.checkUpstreams(ctx)
	d.checkDatabase(ctx)
	d.checkCertificates()
	return d.summary()
}

func (d *doctor) pass(text string) { fmt.Fprintf(d.out, "✔ %s\n", text) }

func (d *doctor) note(text string) { fmt.Fprintf(d.out, "! %s\n", text) }

func (d *doctor) fail(text, fix string) {
	d.fails++
	fmt.Fprintf(d.out, "✘ %s\n  fix: %s\n", text, fix)
}

func (d *doctor) summary() int {
	if d.fails > 0 {
		fmt.Fprintf(d.out, "\n%d problem(s) found.\n", d.fails)
		return 1
	}
	fmt.Fprintln(d.out, "\nAll checks passed.")
	return 0
}
