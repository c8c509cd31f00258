package main

import (
	"time"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/proxy"
	edgetls "github.com/edge-server/edge/tls"
)

// config is the whole edge.yaml after decoding, expansion and defaults. The per-package
// sections are the packages' own Config types, so there is one source of truth per field.
type config struct {
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
	Cluster     clusterSection
	// Warnings are problems that do not stop edge from running.
	Warnings configErrors
	// lines remembers where things were written, for validation messages.
	lines map[string]int
	// unreadable are keys whose value failed to decode (already reported).
	unreadable map[string]bool
}

// Defaults, documented in docs/config.md.
const (
	defaultStateDir    = "/var/lib/edge"
	defaultAdminSocket = "/run/edge/admin.sock"
	defaultMetrics     = "127.0.0.1:9180"
	defaultHTTP        = ":80"
	defaultHTTPS       = ":443"
	defaultCA          = "letsencrypt"
	defaultChatMount   = "/chat/"
	defaultLocale      = "ko"
)

var defaultHealth = proxy.HealthConfig{Path: "/health", Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3}

const defaultDrain = 30 * time.Second

func newDefaultConfig(path string) *config {
	return &config{
		Path:        path,
		StateDir:    defaultStateDir,
		AdminSocket: defaultAdminSocket,
		Metrics:     defaultMetrics,
		AccessLog:   true,
		Proxy:       proxy.Config{HTTPAddr: defaultHTTP, HTTPSAddr: defaultHTTPS},
		TLS:         edgetls.Config{CA: defaultCA},
		Chat:        chat.Config{Mount: defaultChatMount, NicknameLocale: defaultLocale},
		lines:       map[string]int{},
		unreadable:  map[string]bool{},
	}
}
