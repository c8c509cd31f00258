package proxy

import "net/netip"

// HeaderRules change response headers of a site or a route: every response,
// proxied, static, local handler or edge's own error pages. Site rules run first,
// then the route's, so a route can override its site.
type HeaderRules struct {
	// Set replaces a header (or adds it when absent). Default none.
	Set map[string]string
	// Add appends a header line, keeping any the response already has. Default none.
	Add map[string]string
	// Remove deletes headers by name, e.g. "Server", "X-Powered-By". Default none.
	Remove []string
}

func (h *HeaderRules) empty() bool { return len(h.Set) == 0 && len(h.Add) == 0 && len(h.Remove) == 0 }

// RedirectConfig answers a route with a redirect instead of serving it.
type RedirectConfig struct {
	// To is where to send the client: a path ("/new/") or an absolute URL. When the
	// route path is a prefix ending in "/", the rest of the request path after it is
	// appended (/old/a → /new/a) and the query is kept. Required.
	To string
	// Code is 301, 302, 303, 307 or 308. Default 308.
	Code int
}

// AccessConfig restricts who may use a route. Checks run in this order: deny, allow,
// basic auth, rate limit; the first that refuses answers (403, 403, 401, 429).
type AccessConfig struct {
	// Allow, when non-empty, admits only client addresses inside one of these
	// prefixes (a bare address is a /32 or /128). Default: everyone.
	Allow []netip.Prefix
	// Deny refuses client addresses inside one of these prefixes, before Allow.
	Deny []netip.Prefix
	// BasicAuth maps user names to bcrypt hashes ("$2a$…", see `edge hash-password`).
	// Non-empty: requests need matching HTTP basic credentials. Default: none.
	BasicAuth map[string]string
	// BasicAuthRealm is sent in WWW-Authenticate. Default "edge".
	BasicAuthRealm string
	// RateLimit is the sustained requests per second allowed per client address
	// (IPv6 clients are counted per /64). 0 disables. Default 0.
	RateLimit float64
	// RateBurst is how many requests a client may make at once above the sustained
	// rate. Default: max(1, RateLimit) (one second's worth).
	RateBurst int
	// RateTrackedClients bounds the memory of the limiter: it remembers at most about
	// twice this many client addresses and forgets the least recently seen.
	// Default 65536 (≈ 10 MB worst case per limited route, see docs/proxy.md).
	RateTrackedClients int
}

func (a *AccessConfig) empty() bool {
	return len(a.Allow) == 0 && len(a.Deny) == 0 && len(a.BasicAuth) == 0 && a.RateLimit == 0
}

// CompressionConfig tunes compression of proxied responses (routes with Compress).
type CompressionConfig struct {
	// MinSize is the smallest body of known length worth compressing. Default 1024
	// bytes (nginx gzip_min_length 20, Caddy minimum_length 512; below ~1 KiB the
	// saving rarely pays for the CPU). Bodies of unknown length are always compressed.
	MinSize int
}
