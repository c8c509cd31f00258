package proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/crypto/bcrypt"
)

// CheckBcryptHash reports whether hash is a usable bcrypt hash for user.
func CheckBcryptHash(user, hash string) error {
	if user == "" || strings.ContainsAny(user, ":\r\n") {
		return fmt.Errorf("basic_auth user name %q is empty or contains ':' or a line break", user)
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return fmt.Errorf("the basic_auth hash of user %q is not a bcrypt hash (expected $2a$, $2b$ or $2y$ and 60 characters; make one with `edge hash-password`): %v", user, err)
	}
	return nil
}

// accessRules is a compiled AccessConfig.
type accessRules struct {
	allow, deny prefixList
	users       map[string][]byte // user → bcrypt hash
	dummy       []byte            // compared for unknown users, so timing does not tell which users exist
	challenge   []byte            // WWW-Authenticate value
	verified    verifiedCache
	limiter     *rateLimiter
}

// bcryptSlots bounds concurrent bcrypt comparisons: each costs ~50 ms of CPU at
// cost 10, so a flood of wrong passwords must not take every core.
var bcryptSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))

func compileAccess(ac AccessConfig) (*accessRules, error) {
	if ac.empty() {
		return nil, nil
	}
	r := &accessRules{allow: ac.Allow, deny: ac.Deny}
	if len(ac.BasicAuth) > 0 {
		r.users = make(map[string][]byte, len(ac.BasicAuth))
		maxCost := bcrypt.DefaultCost
		for u, h := range ac.BasicAuth {
			if err := CheckBcryptHash(u, h); err != nil {
				return nil, err
			}
			c, _ := bcrypt.Cost([]byte(h))
			maxCost = max(maxCost, c)
			r.users[u] = []byte(h)
		}
		var err error
		if r.dummy, err = bcrypt.GenerateFromPassword([]byte("edge-no-such-user"), maxCost); err != nil {
			return nil, fmt.Errorf("preparing basic auth: %w", err)
		}
		realm := ac.BasicAuthRealm
		if realm == "" {
			realm = "edge"
		}
		r.challenge = []byte(`Basic realm=` + strconv.Quote(realm) + `, charset="UTF-8"`)
	}
	if ac.RateLimit < 0 {
		return nil, fmt.Errorf("rate limit %v must not be negative", ac.RateLimit)
	}
	if ac.RateLimit > 0 {
		r.limiter = newRateLimiter(ac.RateLimit, ac.RateBurst, ac.RateTrackedClients)
	}
	return r, nil
}

// admit runs the rules for one request and writes the refusal when one refuses.
func (r *accessRules) admit(ctx *fasthttp.RequestCtx, client netip.Addr, rid []byte) bool {
	if r.deny.contains(client) || (len(r.allow) > 0 && !r.allow.contains(client)) {
		writeErrorPage(ctx, fasthttp.StatusForbidden, rid)
		return false
	}
	if r.users != nil {
		switch r.authorized(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)) {
		case authBusy:
			writeErrorPage(ctx, fasthttp.StatusServiceUnavailable, rid)
			ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
			return false
		case authRefused:
			writeErrorPage(ctx, fasthttp.StatusUnauthorized, rid)
			ctx.Response.Header.SetBytesV(fasthttp.HeaderWWWAuthenticate, r.challenge)
			return false
		}
	}
	if r.limiter != nil {
		if ok, retry := r.limiter.allow(client); !ok {
			writeErrorPage(ctx, fasthttp.StatusTooManyRequests, rid)
			secs := int64((retry + time.Second - 1) / time.Second)
			var buf [20]byte
			ctx.Response.Header.SetBytesV(fasthttp.HeaderRetryAfter, strconv.AppendInt(buf[:0], max(secs, 1), 10))
			return false
		}
	}
	return true
}

type authResult uint8

const (
	authRefused authResult = iota
	authOK
	authBusy // every bcrypt slot stayed taken for bcryptWait
)

// bcryptWait bounds the wait for a bcrypt slot: under a flood of guesses a request
// gets 503 instead of queueing without end.
const bcryptWait = 2 * time.Second

// authorized checks HTTP basic credentials. A pair verified once is remembered (by
// its SHA-256) so a logged-in browser does not pay bcrypt on every request.
func (r *accessRules) authorized(auth []byte) authResult {
	const prefix = "basic "
	if len(auth) <= len(prefix) || !caseEq(auth[:len(prefix)], prefix) {
		return authRefused
	}
	enc := bytes.TrimSpace(auth[len(prefix):])
	if len(enc) > 1024 {
		return authRefused
	}
	var raw [768]byte
	n, err := base64.StdEncoding.Decode(raw[:], enc)
	if err != nil {
		return authRefused
	}
	cred := raw[:n]
	i := bytes.IndexByte(cred, ':')
	if i < 0 {
		return authRefused
	}
	key := sha256.Sum256(cred)
	if r.verified.has(key) {
		return authOK
	}
	hash, known := r.users[string(cred[:i])]
	if !known {
		hash = r.dummy
	}
	select {
	case bcryptSlots <- struct{}{}:
	default:
		t := time.NewTimer(bcryptWait)
		select {
		case bcryptSlots <- struct{}{}:
			t.Stop()
		case <-t.C:
			return authBusy
		}
	}
	err = bcrypt.CompareHashAndPassword(hash, cred[i+1:])
	<-bcryptSlots
	if err != nil || !known {
		return authRefused
	}
	r.verified.add(key)
	return authOK
}

// verifiedCache remembers credential pairs that passed bcrypt, bounded: when full
// it starts over (a client then pays one bcrypt again).
type verifiedCache struct {
	mu sync.Mutex
	m  map[[32]byte]struct{}
}

const maxVerified = 1024

func (c *verifiedCache) has(k [32]byte) bool {
	c.mu.Lock()
	_, ok := c.m[k]
	c.mu.Unlock()
	return ok
}

func (c *verifiedCache) add(k [32]byte) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxVerified {
		c.m = make(map[[32]byte]struct{})
	}
	c.m[k] = struct{}{}
	c.mu.Unlock()
}
