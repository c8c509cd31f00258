package chat

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// User is an anonymous visitor as the protocol shows it.
type User struct {
	ID       string `json:"id"`
	Nickname string `json:"nickname"`
	Avatar   string `json:"avatar"`
}

const (
	tokenIssuer   = "edge-chat"
	maxTokenBytes = 1024
	userIDPrefix  = "u"
	userIDHexLen  = 24
)

// validAnonID reports whether a client-supplied anon_id is acceptable:
// 16 to 128 characters of A-Z a-z 0-9 _ -.
func validAnonID(s string) bool {
	if len(s) < 16 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// newAnonID returns a fresh random anon_id (22 characters, 128 bits).
func newAnonID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// userIDFor derives the public user id from an anon_id. The anon_id itself is never
// shown to other visitors, so knowing someone's user id does not let you speak as them.
func userIDFor(anonID string) string {
	h := sha256.Sum256([]byte("edge-chat-user\x00" + anonID))
	return userIDPrefix + hex.EncodeToString(h[:userIDHexLen/2])
}

func validUserID(s string) bool {
	if len(s) != len(userIDPrefix)+userIDHexLen || s[:len(userIDPrefix)] != userIDPrefix {
		return false
	}
	_, err := hex.DecodeString(s[len(userIDPrefix):])
	return err == nil
}

// identity issues and checks session tokens.
type identity struct {
	secret []byte
	ttl    time.Duration
	locale string
	parser *jwt.Parser
}

func newIdentity(secret []byte, ttl time.Duration, locale string) *identity {
	return &identity{
		secret: secret, ttl: ttl, locale: locale,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithIssuer(tokenIssuer),
			jwt.WithLeeway(5*time.Second),
		),
	}
}

// userFor is the user an anon_id stands for; a pure function of anonID (and the locale).
func (id *identity) userFor(anonID string) User {
	return userForID(userIDFor(anonID), id.locale)
}

func userForID(userID, locale string) User {
	nick, avatar := nicknameFor(userID, locale)
	return User{ID: userID, Nickname: nick, Avatar: avatar}
}

// issue signs a token for anonID valid from now for the configured TTL.
func (id *identity) issue(anonID string, now time.Time) (token string, u User, exp time.Time, err error) {
	u = id.userFor(anonID)
	exp = now.Add(id.ttl).Truncate(time.Second)
	claims := jwt.RegisteredClaims{
		Issuer:    tokenIssuer,
		Subject:   u.ID,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
	}
	token, err = jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(id.secret)
	if err != nil {
		return "", User{}, time.Time{}, fmt.Errorf("signing session token: %w", err)
	}
	return token, u, exp, nil
}

var errBadToken = &Error{Code: CodeUnauthorized, Message: "the session token is missing, invalid or expired; get a new one from api/session"}

// verify checks a token (HS256 with our key only, not expired, our issuer, a well-formed
// subject) and returns its user.
func (id *identity) verify(token string) (User, *Error) {
	if token == "" || len(token) > maxTokenBytes {
		return User{}, errBadToken
	}
	var claims jwt.RegisteredClaims
	t, err := id.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, errors.New("unexpected signing method")
		}
		return id.secret, nil
	})
	if err != nil || !t.Valid || !validUserID(claims.Subject) {
		return User{}, errBadToken
	}
	return userForID(claims.Subject, id.locale), nil
}
