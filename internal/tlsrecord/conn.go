package tlsrecord

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is a TLS 1.3 connection after its handshake, as a net.Conn: Read returns
// application data, Write sends it. One goroutine may Read while others Write; Close
// may be called from any goroutine.
//
// What it accepts after the handshake: application data (empty records included),
// close_notify (Read returns io.EOF), any other alert (Read returns an *AlertError with
// Remote set), and KeyUpdate (a peer's update_requested is answered with a KeyUpdate of
// ours before the next record we send). Anything else — a NewSessionTicket, a
// handshake message split across records, a record that fails authentication, a record
// over 2^14+256 bytes — ends the connection with the matching alert. Read and write
// errors other than timeouts of Read are permanent.
type Conn struct {
	tcp   *net.TCPConn
	suite *suite

	// Reader side: only the goroutine calling Read touches these.
	in      direction
	hdr     [headerLen]byte
	hdrN    int
	buf     *[]byte // pooled: the record body being read, then its plaintext
	bodyN   int     // bytes of the body read so far (its length is in hdr)
	pos     int     // unread plaintext is (*buf)[pos:end]
	end     int
	useless int // consecutive records that carried no application data
	rerr    error
	idle    idleWait

	keyUpdate atomic.Bool // the peer asked for our KeyUpdate; sent before our next record

	wmu      sync.Mutex
	out      direction
	werr     error
	pend     *[]byte // pooled: a record TryWrite sealed and the socket did not take whole
	pendData []byte  // its unwritten rest, written by Flush or the next Write first
	nb       nonBlocking
	closed   atomic.Bool
}

// maxUseless bounds consecutive records without application data (empty records,
// KeyUpdates): a peer may not keep the reader spinning on them.
const maxUseless = 16

var errClosed = net.ErrClosed

// Read reads application data. An idle reader waits here for the socket to become
// readable (idleWait: the read AEAD is dropped meanwhile), then reads the header
// straight into the Conn, with no buffer held until a record arrives. The socket reads happen in
// this frame, and the AEAD runs on an opener goroutine (openOffStack): a reader
// goroutine that only ever runs this shallow path keeps its initial 2 KiB stack (the
// runtime does not shrink a 4 KiB stack parked this deep), as on plain TCP.
func (c *Conn) Read(p []byte) (int, error) {
	for c.pos == c.end {
		if c.rerr != nil {
			return 0, c.rerr
		}
		if len(p) == 0 {
			return 0, nil
		}
		if c.hdrN == 0 {
			if err := c.idle.wait(); err != nil {
				return 0, c.readFailed(err)
			}
		}
		if c.hdrN < headerLen {
			n, err := c.tcp.Read(c.hdr[c.hdrN:])
			c.hdrN += n
			if err != nil {
				return 0, c.readFailed(err)
			}
			continue
		}
		if c.buf == nil {
			if err := c.startBody(); err != nil {
				return 0, err
			}
		}
		if n := bodyLen(&c.hdr); c.bodyN < n {
			m, err := c.tcp.Read((*c.buf)[c.bodyN:n])
			c.bodyN += m
			if err != nil {
				return 0, c.readFailed(err)
			}
			continue
		}
		if err := c.handleRecord(); err != nil {
			return 0, err
		}
	}
	n := copy(p, (*c.buf)[c.pos:c.end])
	c.pos += n
	if c.pos == c.end {
		c.release()
	}
	return n, nil
}

func bodyLen(h *[headerLen]byte) int { return int(h[3])<<8 | int(h[4]) }

func (c *Conn) release() {
	if c.buf != nil {
		putBuf(c.buf)
		c.buf, c.bodyN, c.pos, c.end = nil, 0, 0, 0
	}
}

// startBody checks the header just read and takes a buffer for the body.
func (c *Conn) startBody() error {
	n, err := checkHeader(&c.hdr)
	if err != nil {
		return c.fail(err)
	}
	c.buf, c.bodyN = getBuf(n), 0
	return nil
}

// handleRecord opens the record read into c.hdr and *c.buf, and handles it.
func (c *Conn) handleRecord() error {
	n := bodyLen(&c.hdr)
	c.hdrN, c.bodyN = 0, 0
	typ, content, err := openOffStack(&c.in, c.hdr[:], (*c.buf)[:n])
	if err != nil {
		return c.fail(err)
	}
	if typ == typeApplicationData && len(content) > 0 {
		c.useless, c.pos, c.end = 0, 0, len(content)
		return nil
	}
	if c.useless++; c.useless > maxUseless {
		return c.fail(localAlert(alertUnexpectedMessage, "%d records in a row without application data", c.useless))
	}
	switch typ {
	case typeApplicationData:
		c.release()
		return nil
	case typeAlert:
		return c.gotAlert(content)
	case typeHandshake:
		return c.gotHandshake(content)
	}
	return c.fail(localAlert(alertUnexpectedMessage, "record of content type %d", typ))
}

// readFailed handles an error of the socket: a timeout leaves the record half read,
// to be continued by the next Read; anything else ends reading.
func (c *Conn) readFailed(err error) error {
	if errors.Is(err, io.EOF) && (c.hdrN > 0 || c.buf != nil) {
		err = io.ErrUnexpectedEOF
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	c.release()
	c.rerr = err
	return err
}

func (c *Conn) gotAlert(content []byte) error {
	if len(content) != 2 {
		return c.fail(localAlert(alertDecodeError, "alert of %d bytes", len(content)))
	}
	desc := content[1] // content is in c.buf: read it before the buffer goes back to its pool
	c.release()
	if desc == alertCloseNotify {
		c.rerr = io.EOF
		return io.EOF
	}
	// TLS 1.3: every alert but close_notify (and user_canceled, which precedes one)
	// ends the connection; user_canceled is reported like the others.
	c.rerr = &AlertError{Alert: desc, Remote: true}
	c.shutWrite(c.rerr)
	return c.rerr
}

func (c *Conn) gotHandshake(content []byte) error {
	if len(content) < 4 || content[0] != handshakeKeyUpdate {
		// NewSessionTicket is sent by servers only; a client may send nothing else
		// after the handshake (no post-handshake authentication is requested).
		t := -1
		if len(content) > 0 {
			t = int(content[0])
		}
		return c.fail(localAlert(alertUnexpectedMessage, "handshake message of type %d after the handshake", t))
	}
	if n := int(content[1])<<16 | int(content[2])<<8 | int(content[3]); n != 1 || len(content) != 5 {
		// A KeyUpdate is 1 byte and must end its record (the key changes after it).
		return c.fail(localAlert(alertDecodeError, "KeyUpdate of %d bytes in a record of %d", n, len(content)))
	}
	req := content[4]
	if req > 1 {
		return c.fail(localAlert(alertIllegalParameter, "KeyUpdate request_update %d", req))
	}
	c.release()
	if err := c.in.update(c.suite); err != nil {
		return c.fail(localAlert(alertInternalError, "%v", err))
	}
	if req == 1 {
		c.keyUpdate.Store(true)
	}
	return nil
}

// fail ends the connection after a protocol error: it sends the alert (if the socket
// takes it at once), and makes every later Read and Write fail.
func (c *Conn) fail(err error) error {
	c.release()
	c.rerr = err
	var ae *AlertError
	if errors.As(err, &ae) && !ae.Remote {
		c.sendAlert(ae.Alert)
	}
	c.shutWrite(err)
	return err
}

// shutWrite makes later Writes fail with err (no-op while a Write is in progress: that
// Write meets the closed socket or finishes; the next one fails).
func (c *Conn) shutWrite(err error) {
	if c.wmu.TryLock() {
		if c.werr == nil {
			c.werr = err
		}
		c.wmu.Unlock()
	}
}

// sendAlert sends a fatal alert (warning level for close_notify) if no Write is in
// progress and the socket takes it without waiting; nothing is sent after it.
func (c *Conn) sendAlert(desc uint8) {
	if !c.wmu.TryLock() {
		return
	}
	defer c.wmu.Unlock()
	if c.werr != nil || c.pend != nil { // an alert must not land inside a half-written record
		return
	}
	level := byte(2)
	if desc == alertCloseNotify {
		level = 1
	}
	var b [headerLen + 2 + 1 + tagLen]byte
	rec, err := c.out.seal(b[:0], typeAlert, []byte{level, desc})
	c.werr = errClosed
	if err == nil {
		c.writeNow(rec)
	}
}

// Write sends p as application data records.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	if err := c.flushLocked(); err != nil {
		return 0, err
	}
	sent := 0
	for sent < len(p) {
		chunk := min(len(p)-sent, maxPlaintext)
		size := headerLen + chunk + 1 + tagLen
		if c.keyUpdate.Load() {
			size += headerLen + 5 + 1 + tagLen
		}
		b := getBuf(size)
		rec, err := sealOffStack(c, (*b)[:0], p[sent:sent+chunk]) // not on this stack: opener.go
		if err == nil {
			_, err = c.tcp.Write(rec)
		}
		putBuf(b)
		if err != nil {
			// A record may be half written: the stream cannot continue.
			c.werr = err
			return sent, err
		}
		sent += chunk
	}
	return sent, nil
}

// Flush writes what TryWrite left pending, blocking up to the write deadline.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	return c.flushLocked()
}

func (c *Conn) flushLocked() error {
	if c.pend == nil {
		return nil
	}
	_, err := c.tcp.Write(c.pendData)
	putBuf(c.pend)
	c.pend, c.pendData = nil, nil
	if err != nil {
		c.werr = err // a record is half written: the stream cannot continue
	}
	return err
}

// sealLocked appends our pending KeyUpdate (then switches keys) and one data record.
func (c *Conn) sealLocked(out, data []byte) ([]byte, error) {
	if c.keyUpdate.Swap(false) {
		var err error
		if out, err = c.out.seal(out, typeHandshake, []byte{handshakeKeyUpdate, 0, 0, 1, 0}); err != nil {
			return out, err
		}
		if err = c.out.update(c.suite); err != nil {
			return out, err
		}
	}
	return c.out.seal(out, typeApplicationData, data)
}

// Close sends close_notify if the socket takes it at once and no Write is in
// progress, then closes the socket.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return errClosed
	}
	c.sendAlert(alertCloseNotify)
	return c.tcp.Close()
}

// SetLinger is net.TCPConn's: SetLinger(0) makes Close reset the connection.
func (c *Conn) SetLinger(sec int) error { return c.tcp.SetLinger(sec) }

func (c *Conn) LocalAddr() net.Addr                { return c.tcp.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr               { return c.tcp.RemoteAddr() }
func (c *Conn) SetDeadline(t time.Time) error      { return c.tcp.SetDeadline(t) }
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.tcp.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.tcp.SetWriteDeadline(t) }

// Idle reports whether the reader is between records with nothing buffered, so that the
// next byte on the socket begins a record header: the connection may then wait for
// readability without a goroutine (chat's idle parking). Like the idle wait it drops
// the read AEAD, rebuilt when the next record arrives. Only the reader may call it.
func (c *Conn) Idle() bool {
	if c.pos != c.end || c.hdrN != 0 || c.buf != nil || c.rerr != nil {
		return false
	}
	c.in.drop()
	return true
}

// ReleaseWriteKey drops the write AEAD (AES-GCM: 768 B of key schedule and GHASH
// table) of a connection that is not writing; the next record rebuilds it from the key.
// It never waits: a Write in progress keeps it.
func (c *Conn) ReleaseWriteKey() {
	if c.wmu.TryLock() {
		c.out.drop()
		c.wmu.Unlock()
	}
}

// SyscallConn is the socket's, for waiting on its readability; bytes read or written
// through it would break the record stream.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.tcp.SyscallConn() }
