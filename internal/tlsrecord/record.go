package tlsrecord

import (
	"errors"
	"math"
)

// Record framing (RFC 8446 section 5).
const (
	headerLen     = 5
	maxPlaintext  = 1 << 14            // TLSInnerPlaintext content
	maxCiphertext = maxPlaintext + 256 // TLSCiphertext.length
	maxInner      = maxPlaintext + 1   // content plus content type, padding included
	tagLen        = 16                 // every TLS 1.3 AEAD
	maxRecord     = headerLen + maxCiphertext
	maxSealed     = headerLen + maxPlaintext + 1 + tagLen

	typeAlert           = 21
	typeHandshake       = 22
	typeApplicationData = 23

	handshakeKeyUpdate = 24
)

// Alert descriptions used here (RFC 8446 section 6).
const (
	alertCloseNotify       = 0
	alertUnexpectedMessage = 10
	alertBadRecordMAC      = 20
	alertRecordOverflow    = 22
	alertDecodeError       = 50
	alertIllegalParameter  = 47
	alertProtocolVersion   = 70
	alertInternalError     = 80
)

var errSeqExhausted = errors.New("tlsrecord: sequence number exhausted; the connection must end")

// checkHeader validates a record header read after the handshake and returns the
// length of the record body.
func checkHeader(h *[headerLen]byte) (int, error) {
	n := int(h[3])<<8 | int(h[4])
	switch {
	case h[0] != typeApplicationData:
		// After the handshake every TLS 1.3 record is protected and carried as
		// application_data; anything else (plaintext, a ChangeCipherSpec) is wrong here.
		return 0, localAlert(alertUnexpectedMessage, "record of outer type %d after the handshake", h[0])
	case h[1] != 3 || h[2] != 3:
		return 0, localAlert(alertProtocolVersion, "record version %#02x%02x, want 0x0303", h[1], h[2])
	case n > maxCiphertext:
		return 0, localAlert(alertRecordOverflow, "record of %d bytes, more than %d", n, maxCiphertext)
	}
	return n, nil
}

// seal appends one protected record carrying data as content type typ to out.
// len(data) must not exceed maxPlaintext.
func (d *direction) seal(out []byte, typ byte, data []byte) ([]byte, error) {
	if d.seq == math.MaxUint64 {
		return out, errSeqExhausted
	}
	if d.aead == nil { // released while the connection was idle (Conn.ReleaseWriteKey)
		if err := d.build(); err != nil {
			return out, err
		}
	}
	n := len(data) + 1 + d.aead.Overhead()
	start := len(out) + headerLen
	out = append(out, typeApplicationData, 3, 3, byte(n>>8), byte(n))
	out = append(out, data...)
	out = append(out, typ)
	d.nonce(&d.nonceBuf)
	out = d.aead.Seal(out[:start], d.nonceBuf[:], out[start:], out[start-headerLen:start])
	d.seq++
	return out, nil
}

// open authenticates and decrypts one record in place (hdr its header, body the rest)
// and returns its content type and content, padding removed.
func (d *direction) open(hdr, body []byte) (byte, []byte, error) {
	if d.seq == math.MaxUint64 {
		return 0, nil, errSeqExhausted
	}
	if d.aead == nil {
		if err := d.build(); err != nil {
			return 0, nil, localAlert(alertInternalError, "%v", err)
		}
	}
	d.nonce(&d.nonceBuf)
	plain, err := d.aead.Open(body[:0], d.nonceBuf[:], body, hdr)
	if err != nil {
		return 0, nil, localAlert(alertBadRecordMAC, "record failed authentication")
	}
	d.seq++
	if len(plain) > maxInner {
		return 0, nil, localAlert(alertRecordOverflow, "record content of %d bytes, more than %d", len(plain), maxInner)
	}
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 {
		return 0, nil, localAlert(alertUnexpectedMessage, "record without a content type")
	}
	return plain[i], plain[:i], nil
}
