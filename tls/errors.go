package edgetls

import (
	"errors"
	"fmt"
)

// ConfigError is a problem with one Config field, returned by New.
type ConfigError struct {
	Field string // Config field name, e.g. "CA"
	Msg   string // one plain sentence, without the field name
}

func (e *ConfigError) Error() string { return "tls config: " + e.Field + ": " + e.Msg }

func configErrorf(field, format string, args ...any) error {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// HandshakeError codes: why a TLS handshake was refused before any certificate lookup.
const (
	CodeUnmanagedName  = "unmanaged_name"  // SNI names a host that is not in Config.Hosts (or no SNI)
	CodeChallengeOff   = "challenge_off"   // an acme-tls/1 hello while TLS-ALPN-01 is disabled
	CodeChallengeMixed = "challenge_mixed" // acme-tls/1 offered together with other protocols
)

// HandshakeError is returned from TLSConfig().GetCertificate when edge will not serve a
// certificate for a ClientHello. crypto/tls turns it into a TLS alert.
type HandshakeError struct {
	Code       string
	ServerName string
}

func (e *HandshakeError) Error() string {
	switch e.Code {
	case CodeUnmanagedName:
		if e.ServerName == "" {
			return "tls: no server name (SNI) in the handshake; edge only serves the names it manages"
		}
		return fmt.Sprintf("tls: %q is not a name edge manages certificates for", e.ServerName)
	case CodeChallengeOff:
		return fmt.Sprintf("tls: acme-tls/1 handshake for %q but the TLS-ALPN-01 challenge is disabled", e.ServerName)
	default:
		return fmt.Sprintf("tls: acme-tls/1 handshake for %q offers other protocols too", e.ServerName)
	}
}

// Lifecycle misuse.
var (
	errStartedTwice = errors.New("certificate manager already started")
	errShutDown     = errors.New("certificate manager was shut down")
)
