package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// Config is everything the proxy needs, as plain values. cmd/edge fills it from the
// YAML file; tests fill it directly. Zero values get the defaults documented per field.
type Config struct {
	// HTTPAddr is the plain-HTTP listen address. Default ":80".
	HTTPAddr string
	// HTTPSAddr is the HTTPS listen address. "" serves plain HTTP only (no redirect, no CA).
	HTTPSAddr string
	// HTTPListener and HTTPSListener, when set, are used instead of listening on the
	// addresses above (systemd socket activation, tests on port 0).
	HTTPListener, HTTPSListener net.Listener
	// TLSConfig is used on the HTTPS listener. Required when HTTPSAddr or HTTPSListener is set.
	TLSConfig *tls.Config
	// ACMEChallenge answers ACME HTTP-01 requests on the HTTP listener before any routing;
	// it returns true when it handled the request. nil: no challenge handling.
	ACMEChallenge func(ctx *fasthttp.RequestCtx) bool
	// CertificateStatus, when set, is reported under "certificates" by GET /status
	// (cmd/edge passes the certificate manager's Status). Default nil: not reported.
	CertificateStatus func() any
	// HSTS adds Strict-Transport-Security to HTTPS responses. Default false.
	HSTS bool

	// Apps are the blue/green upstream pairs, referenced by name from routes.
	Apps []AppConfig
	// Sites map host names to routes.
	Sites []SiteConfig
	// Handlers are in-process handlers referenced by RouteConfig.Handler (e.g. "chat").
	Handlers map[string]fasthttp.RequestHandler

	// StateFile persists the active color per app. "" keeps state in memory only.
	StateFile string
	// AdminSocket is the unix socket path of the admin API. "" disables it.
	AdminSocket string
	// AdminHandlers are extra admin API endpoints, served only on AdminSocket (never on
	// the public listeners), keyed by path prefix ending in "/" (e.g. "/chat/" for the
	// chat's moderation API); a request whose path starts with a key goes to its handler
	// with the path unchanged. Read once at Start. Default none.
	AdminHandlers map[string]http.Handler
	// SwitchTimeout is how long a switch waits for the target color to pass `rise`
	// fresh health checks when the request names no timeout. Default 10s.
	SwitchTimeout time.Duration
	// Reload is called by POST /reload on the admin API. nil: the admin API answers
	// 501 Not Implemented. cmd/edge supplies it (re-read the file, then Server.Reload).
	Reload func(ctx context.Context) error
	// Fleet, when set, takes the admin API's switches and rollbacks fleet-wide (see
	// FleetSwitcher). Default nil: they move this instance only.
	Fleet FleetSwitcher
	// FleetStatus, when set, is reported by GET /status under "instances" (every live
	// instance of the fleet) and "fleet" (the fleet database's state). Default nil.
	FleetStatus func() (instances, fleet any)

	// AccessLog writes one JSON line per request through the logger named "access".
	// Default false (cmd/edge turns it on unless access_log: false).
	AccessLog bool
	// Metrics receives request, switch and health events. nil: a no-op recorder.
	Metrics Metrics

	// Limits protect the listeners. Zero values get the defaults in DefaultLimits.
	Limits Limits

	// TrustedProxies are the addresses (e.g. a cloud load balancer) whose
	// X-Forwarded-For edge believes when it decides who the client is for access
	// rules and rate limits: the client is the rightmost address not in this list.
	// Default none: the client is the TCP peer.
	TrustedProxies []netip.Prefix
	// Compression tunes compression of proxied responses.
	Compression CompressionConfig
}

// Limits bounds what a client may send and how long it may take.
type Limits struct {
	// MaxHeaderBytes caps the request line plus headers. Default 16 KiB (over: 431).
	MaxHeaderBytes int
	// MaxBodyBytes caps a request body. Default 10 MiB (over: 413).
	MaxBodyBytes int
	// ReadTimeout bounds reading one request (headers and body). Default 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds one write to a peer: a piece of a response to a client, or
	// relayed data of a proxied WebSocket to either side. Default 60s.
	WriteTimeout time.Duration
	// IdleTimeout closes idle keep-alive client connections. Default 120s.
	IdleTimeout time.Duration
	// UpstreamTimeout bounds the wait for the upstream's response header (504 when it
	// passes) and every later gap between two reads of its body, as nginx's
	// proxy_read_timeout does; a stream that keeps sending may last longer. Default 60s.
	UpstreamTimeout time.Duration
	// ConnectTimeout bounds dialing an upstream. Default 5s.
	ConnectTimeout time.Duration
	// MaxConnsPerUpstream caps keep-alive connections to one upstream address; a
	// request waits up to ConnectTimeout for a free one, then gets 502. Default 4096.
	MaxConnsPerUpstream int
}

// AppConfig is one application with a blue and a green upstream.
type AppConfig struct {
	// Name is how routes refer to the app. Required.
	Name string
	// Blue and Green are the upstream addresses (host:port) of each color: one or
	// more replicas, no address twice in an app. Both required. Requests to a color go
	// to its healthy replica with the fewest requests in flight, ties in turn.
	Blue, Green []string
	// Health configures active health checks of both colors.
	Health HealthConfig
	// Drain is how long a switch waits for the old color's in-flight work. Default 30s.
	Drain time.Duration
}

// HealthConfig configures active health checks.
type HealthConfig struct {
	// Path is requested with GET; any 2xx or 3xx passes. Default "/health".
	Path string
	// Interval between checks of each color. Default 2s.
	Interval time.Duration
	// Timeout of one check. Default min(1s, Interval). It may be longer than the
	// interval: checks of one replica never overlap, the next starts after the last ended.
	Timeout time.Duration
	// Rise consecutive passes make a color healthy. Default 2.
	Rise int
	// Fall consecutive failures make a color unhealthy. Default 3.
	Fall int
}

// SiteConfig is a set of host names sharing routes.
type SiteConfig struct {
	// Hosts are exact names, "*.example.com" wildcards (exactly one more label, like a
	// wildcard certificate) or "*" for any host no other site claims.
	Hosts []string
	// Routes match by longest path prefix.
	Routes []RouteConfig
	// Headers change the response headers of every route of the site.
	Headers HeaderRules
	// Redirect, when set, answers every request of the site with a redirect to this
	// absolute URL (scheme and host, optionally a path prefix) plus the request's path
	// and query: the "www → apex" case. Routes are then ignored. Default "".
	Redirect string
	// RedirectCode is the status of Redirect: 301, 302, 303, 307 or 308. Default 308.
	RedirectCode int
}

// RouteConfig sends a path prefix to exactly one of: an app, a local handler, a static dir.
type RouteConfig struct {
	// Path is the prefix to match, e.g. "/api/". Required.
	Path string
	// App names an AppConfig.
	App string
	// Handler names an entry of Config.Handlers.
	Handler string
	// Static serves files from a directory: a *static.Config, supplied by the caller so
	// that proxy does not depend on the file server.
	Static Mount
	// Redirect answers the route with a redirect instead of a target.
	Redirect *RedirectConfig

	// Headers change the response headers of this route, after the site's.
	Headers HeaderRules
	// Access restricts who may use the route.
	Access AccessConfig
	// Compress compresses proxied responses (App routes) with gzip, brotli or zstd
	// as the client accepts. Default true (set by cmd/edge; the zero value here
	// means off). Static routes use static.Config.Compress.
	Compress bool
}

// Mount builds the in-process handler of a route. The route table calls NewHandler on
// every build, at start and on each reload, so a reload gets fresh handler state.
type Mount interface {
	NewHandler(prefix string, log *zap.Logger) (fasthttp.RequestHandler, error)
}
