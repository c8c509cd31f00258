// Package config decodes and validates edge.yaml. It takes the file's bytes and an
// environment lookup; it never opens files or reads the environment itself (cmd/edge
// does, so tests and the fuzzer run on plain values). Every problem comes back as an
// Error with file:line and a plain sentence, all of them at once.
package config

import (
	"time"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/proxy"
	"github.com/edge-server/edge/static"
	edgetls "github.com/edge-server/edge/tls"
)

// Config is the whole edge.yaml after decoding, expansion and defaults. The per-package
// sections are the packages' own Config types, so there is one source of truth per field.
type Config struct {
	Path        string // file it came from
	StateDir    string // default /var/lib/edge
	AdminSocket string // default /run/edge/admin.sock
	Metrics     string // default 127.0.0.1:9180; "" disables
	AccessLog   bool   // default true
	CARootFile  string // tls.ca_root as written, for messages
	ChatEnabled bool   // some route has chat: true
	Proxy       proxy.Config
	TLS         edgetls.Config
	Chat        chat.Config
	// OwnCerts are the sites' tls: {cert, key} files, in site order.
	OwnCerts []OwnCert
	Cluster  Cluster
	// Warnings are problems that do not stop edge from running.
	Warnings Errors
	// At is where the values were written, recorded by the decoder; validation and
	// reload report at it.
	At Positions
}

// StaticFiles is the file server settings of a route decoded from a file (static:),
// or nil for other routes.
func StaticFiles(r proxy.RouteConfig) *static.Config {
	files, _ := r.Static.(*static.Config)
	return files
}

// Defaults, documented in docs/config.md.
const (
	DefaultAdminSocket = "/run/edge/admin.sock"
	defaultStateDir    = "/var/lib/edge"
	defaultMetrics     = "127.0.0.1:9180"
	defaultHTTP        = ":80"
	defaultHTTPS       = ":443"
	defaultCA          = "letsencrypt"
	defaultChatMount   = "/chat/"
	defaultLocale      = "ko"
)

// defaultHealth leaves Timeout to defaultHealthTimeout: min(1s, interval).
var defaultHealth = proxy.HealthConfig{Path: "/health", Interval: 2 * time.Second, Rise: 2, Fall: 3}

const defaultDrain = 30 * time.Second

// MaxBytes is the largest config file edge reads (a config is a few KiB); the caller
// that reads the file refuses bigger ones before parsing.
const MaxBytes = 1 << 20

// Default is the config of an empty file at path: every default filled in.
func Default(path string) *Config {
	return &Config{
		Path:        path,
		StateDir:    defaultStateDir,
		AdminSocket: DefaultAdminSocket,
		Metrics:     defaultMetrics,
		AccessLog:   true,
		Proxy:       proxy.Config{HTTPAddr: defaultHTTP, HTTPSAddr: defaultHTTPS},
		TLS:         edgetls.Config{CA: defaultCA},
		Chat:        chat.Config{Mount: defaultChatMount, NicknameLocale: defaultLocale},
	}
}
