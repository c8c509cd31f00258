package edgetls

import (
	"bytes"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// ChallengePathPrefix is where ACME CAs fetch HTTP-01 tokens.
const ChallengePathPrefix = "/.well-known/acme-challenge/"

var challengePrefix = []byte(ChallengePathPrefix)

// HandleHTTPChallenge answers an ACME HTTP-01 validation request and reports whether it
// did. The proxy calls it on the plain-HTTP listener before redirecting or routing, so
// a "/" catch-all route cannot shadow the challenge. It returns false, writing nothing,
// for every other request: any path outside ChallengePathPrefix (one prefix compare, no
// allocation), a method other than GET, a Host that is not managed, or a token this
// process is not currently presenting.
//
// The key authorization comes from certmagic's in-process record of the challenges
// it is presenting (certmagic.GetACMEChallenge), so no net/http adaptor is involved.
func (m *Manager) HandleHTTPChallenge(ctx *fasthttp.RequestCtx) bool {
	path := ctx.Path()
	if !bytes.HasPrefix(path, challengePrefix) || m.s.noHTTP01 || !ctx.IsGet() {
		return false
	}
	name, ok := m.managedName(string(hostOnly(ctx.Host())))
	if !ok {
		return false
	}
	chal, ok := certmagic.GetACMEChallenge(name)
	if !ok || chal.Type != acme.ChallengeTypeHTTP01 || chal.Token == "" ||
		string(path[len(challengePrefix):]) != chal.Token {
		return false
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/plain")
	ctx.SetBodyString(chal.KeyAuthorization)
	ctx.SetConnectionClose()
	m.log.Info("answered ACME HTTP-01 challenge",
		zap.String("host", name),
		zap.Stringer("remote", ctx.RemoteAddr()))
	return true
}

// hostOnly strips the port from a Host header value: "a.example:8080" → "a.example",
// "[::1]:80" → "::1".
func hostOnly(host []byte) []byte {
	if len(host) > 0 && host[0] == '[' {
		if end := bytes.IndexByte(host, ']'); end > 0 {
			return host[1:end]
		}
		return host
	}
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[:i], ':') < 0 {
		return host[:i]
	}
	return host
}
