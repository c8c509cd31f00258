// Package tlsrecord is a minimal TLS 1.3 record layer (RFC 8446 section 5) for a
// connection whose handshake crypto/tls has done: it carries application data, alerts
// and KeyUpdate, and nothing else. Its purpose is memory: a long-lived idle connection
// (a chat WebSocket) held by a tls.Conn keeps crypto/tls's input and handshake buffers
// (grown for the ClientHello and never shrunk) and parks its reader deep inside
// tls.Conn.Read; Detach replaces the tls.Conn with a Conn that holds only the two AEADs,
// a small struct, and a pooled buffer while a record is being read.
package tlsrecord

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// suite is one TLS 1.3 cipher suite: its AEAD and the hash of its key schedule.
type suite struct {
	id     uint16
	keyLen int
	hash   func() hash.Hash
	aead   func(key []byte) (cipher.AEAD, error)
}

func aesGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

var suites = [...]suite{
	{tls.TLS_AES_128_GCM_SHA256, 16, sha256.New, aesGCM},
	{tls.TLS_AES_256_GCM_SHA384, 32, sha512.New384, aesGCM},
	{tls.TLS_CHACHA20_POLY1305_SHA256, chacha20poly1305.KeySize, sha256.New, chacha20poly1305.New},
}

func suiteByID(id uint16) *suite {
	for i := range suites {
		if suites[i].id == id {
			return &suites[i]
		}
	}
	return nil
}

// ivLen is the per-record nonce length of every TLS 1.3 suite.
const ivLen = 12

// maxSecret is the longest traffic secret (SHA-384).
const maxSecret = 48

// expandLabel is HKDF-Expand-Label (RFC 8446 section 7.1) with an empty context.
func (s *suite) expandLabel(secret []byte, label string, n int) ([]byte, error) {
	info := make([]byte, 0, 4+len("tls13 ")+len(label))
	info = append(info, byte(n>>8), byte(n), byte(len("tls13 ")+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0) // context length
	return hkdf.Expand(s.hash, secret, string(info), n)
}

// maxKey is the longest AEAD key (AES-256, ChaCha20).
const maxKey = 32

// direction is the key state of one direction: the AEAD, its key and static IV, the
// sequence number of the next record, and the traffic secret for KeyUpdate. The AEAD
// (768 bytes for AES-GCM, its expanded key and GHASH table) may be dropped while the
// connection is idle (drop) and is rebuilt from the key at the next record.
type direction struct {
	suite     *suite
	aead      cipher.AEAD
	iv        [ivLen]byte
	seq       uint64
	key       [maxKey]byte
	secret    [maxSecret]byte
	secretLen uint8
	// nonceBuf holds the record's nonce: a local array would escape to the heap
	// through the AEAD interface, one allocation per record.
	nonceBuf [ivLen]byte
}

// set installs a traffic secret (RFC 8446 section 7.3) with the given next sequence number.
func (d *direction) set(s *suite, secret []byte, seq uint64) error {
	if len(secret) != s.hash().Size() {
		return fmt.Errorf("tlsrecord: traffic secret of %d bytes for suite %#04x", len(secret), s.id)
	}
	key, err := s.expandLabel(secret, "key", s.keyLen)
	if err != nil {
		return fmt.Errorf("tlsrecord: deriving the traffic key: %w", err)
	}
	iv, err := s.expandLabel(secret, "iv", ivLen)
	if err != nil {
		return fmt.Errorf("tlsrecord: deriving the traffic IV: %w", err)
	}
	d.suite, d.aead, d.seq = s, nil, seq
	clear(d.key[:])
	copy(d.key[:], key)
	clear(key)
	copy(d.iv[:], iv)
	d.secretLen = uint8(copy(d.secret[:], secret))
	return d.build()
}

// build makes the AEAD from the key.
func (d *direction) build() error {
	a, err := d.suite.aead(d.key[:d.suite.keyLen])
	if err != nil {
		return fmt.Errorf("tlsrecord: creating the AEAD: %w", err)
	}
	d.aead = a
	return nil
}

// drop releases the AEAD until the next record needs it.
func (d *direction) drop() { d.aead = nil }

// update moves to the next traffic secret (KeyUpdate, RFC 8446 section 7.2).
func (d *direction) update(s *suite) error {
	next, err := s.expandLabel(d.secret[:d.secretLen], "traffic upd", int(d.secretLen))
	if err != nil {
		return fmt.Errorf("tlsrecord: deriving the next traffic secret: %w", err)
	}
	err = d.set(s, next, 0)
	clear(next)
	return err
}

// nonce is the per-record nonce: the IV XOR the sequence number, left-padded.
func (d *direction) nonce(out *[ivLen]byte) {
	*out = d.iv
	for i := range 8 {
		out[ivLen-1-i] ^= byte(d.seq >> (8 * i))
	}
}
