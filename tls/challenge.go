package edgetls

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"time"

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
	keyAuth, distributed := chal.KeyAuthorization, false
	if !ok || chal.Type != acme.ChallengeTypeHTTP01 || chal.Token == "" ||
		string(path[len(challengePrefix):]) != chal.Token {
		if !m.s.shared {
			return false
		}
		// Another instance of the fleet may have started this order: certmagic's
		// distributed solver wrote the challenge to the shared storage.
		if keyAuth, ok = m.sharedHTTPChallenge(ctx, name, string(path)); !ok {
			return false
		}
		distributed = true
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/plain")
	ctx.SetBodyString(keyAuth)
	ctx.SetConnectionClose()
	m.log.Info("answered ACME HTTP-01 challenge",
		zap.String("host", name),
		zap.Bool("distributed", distributed),
		zap.Stringer("remote", ctx.RemoteAddr()))
	return true
}

// sharedHTTPChallenge asks certmagic to answer from the shared storage, where its
// distributed solver keeps challenges (the key layout is certmagic's business, so
// this goes through its own handler rather than guessing keys). Only challenge
// requests for managed names get here; the net/http values live for this call only.
func (m *Manager) sharedHTTPChallenge(ctx *fasthttp.RequestCtx, name, path string) (string, bool) {
	lctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
	defer cancel()
	r, err := http.NewRequestWithContext(lctx, http.MethodGet, path, nil)
	if err != nil {
		return "", false
	}
	r.Host = name
	r.RemoteAddr = ctx.RemoteAddr().String()
	// Any of the CAs may have started the order: ask each issuer in turn.
	for _, issuer := range m.issuers {
		w := &challengeWriter{header: make(http.Header)}
		if issuer.HandleHTTPChallenge(w, r) && w.status <= http.StatusOK {
			return w.body.String(), true
		}
	}
	return "", false
}

// challengeWriter collects what certmagic's HTTP-01 handler writes.
type challengeWriter struct {
	header http.Header
	body   strings.Builder
	status int
}

func (w *challengeWriter) Header() http.Header         { return w.header }
func (w *challengeWriter) WriteHeader(code int)        { w.status = code }
func (w *challengeWriter) Write(b []byte) (int, error) { return w.body.Write(b) }

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
