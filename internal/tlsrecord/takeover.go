package tlsrecord

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"reflect"
)

// ErrNotDetachable wraps every reason Detach leaves a connection to crypto/tls.
var ErrNotDetachable = errors.New("tlsrecord: connection stays with crypto/tls")

// Detach takes over a server-side TLS 1.3 connection from crypto/tls once its handshake
// is done and nothing is buffered or in progress in it, and returns a Conn that
// continues the same TLS session on a duplicate of its socket. No goroutine may use tc
// during the call, nor afterwards: its own socket descriptor is closed (the connection
// stays open on the duplicate), so that a stray write through tc — which would reuse a
// sequence number, hence an AES-GCM nonce — cannot reach the peer.
//
// The state crypto/tls keeps unexported — the traffic secrets and sequence numbers of
// both directions, and the lengths of its buffers — is read with the reflect package
// (reading, never writing). When a field is not where this package expects it (another
// Go release), or the connection is TLS 1.2, or a record or handshake message is
// buffered, or a write is in progress, the error wraps ErrNotDetachable and tc is left
// untouched: the caller keeps using it. TestDetachFindsTLSState pins the layout to the
// Go toolchain in use.
func Detach(tc *tls.Conn) (*Conn, error) {
	st := tc.ConnectionState()
	if !st.HandshakeComplete || st.Version != tls.VersionTLS13 {
		return nil, fmt.Errorf("%w: TLS version %#04x (handshake complete: %t)", ErrNotDetachable, st.Version, st.HandshakeComplete)
	}
	s := suiteByID(st.CipherSuite)
	if s == nil {
		return nil, fmt.Errorf("%w: cipher suite %#04x", ErrNotDetachable, st.CipherSuite)
	}
	tcp, ok := tc.NetConn().(*net.TCPConn)
	if !ok {
		return nil, fmt.Errorf("%w: the socket is a %T, not a *net.TCPConn", ErrNotDetachable, tc.NetConn())
	}
	ks, err := readState(tc)
	if err != nil {
		return nil, err
	}
	defer clear(ks.inSecret)
	defer clear(ks.outSecret)
	c := &Conn{suite: s}
	if err := c.in.set(s, ks.inSecret, ks.inSeq); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotDetachable, err)
	}
	if err := c.out.set(s, ks.outSecret, ks.outSeq); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotDetachable, err)
	}
	f, err := tcp.File()
	if err != nil {
		return nil, fmt.Errorf("%w: duplicating the socket: %v", ErrNotDetachable, err)
	}
	dup, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: duplicating the socket: %v", ErrNotDetachable, err)
	}
	c.tcp = dup.(*net.TCPConn) // FileConn of a TCP socket is a *net.TCPConn
	c.idle.init(c)
	c.nb.init(c)
	_ = tcp.Close()
	return c, nil
}

// tlsState is what Detach needs from a tls.Conn.
type tlsState struct {
	inSecret, outSecret []byte
	inSeq, outSeq       uint64
}

// readState reads crypto/tls's unexported connection state and checks that nothing is
// buffered or pending in it.
func readState(tc *tls.Conn) (tlsState, error) {
	var st tlsState
	r := stateReader{v: reflect.ValueOf(tc).Elem()}
	r.isNil("quic")
	r.zeroLen("rawInput", "buf", "off")
	r.zeroLen("hand", "buf", "off")
	r.zeroReader("input")
	r.isFalse("buffering")
	r.isEmpty("sendBuf")
	r.isFalse("closeNotifySent")
	r.isZeroInt("activeCall", "v") // Close called (low bit) or Writes in progress
	st.inSecret, st.inSeq = r.half("in")
	st.outSecret, st.outSeq = r.half("out")
	if r.err != nil {
		return tlsState{}, r.err
	}
	return st, nil
}

// stateReader reads unexported fields; the first problem is kept in err.
type stateReader struct {
	v   reflect.Value
	err error
}

func (r *stateReader) field(v reflect.Value, path ...string) (reflect.Value, bool) {
	for _, name := range path {
		if v.Kind() != reflect.Struct {
			r.failf("crypto/tls field %s: not a struct", name)
			return reflect.Value{}, false
		}
		if v = v.FieldByName(name); !v.IsValid() {
			r.failf("crypto/tls field %s not found (Go release changed tls.Conn)", name)
			return reflect.Value{}, false
		}
	}
	return v, true
}

func (r *stateReader) failf(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrNotDetachable, fmt.Sprintf(format, args...))
	}
}

func (r *stateReader) kind(v reflect.Value, name string, kinds ...reflect.Kind) bool {
	for _, k := range kinds {
		if v.Kind() == k {
			return true
		}
	}
	r.failf("crypto/tls field %s is a %s", name, v.Kind())
	return false
}

func (r *stateReader) isNil(name string) {
	if v, ok := r.field(r.v, name); ok && r.kind(v, name, reflect.Pointer, reflect.Interface) && !v.IsNil() {
		r.failf("%s is set", name)
	}
}

// zeroLen checks that a bytes.Buffer holds no unread bytes.
func (r *stateReader) zeroLen(name, buf, off string) {
	b, ok1 := r.field(r.v, name, buf)
	o, ok2 := r.field(r.v, name, off)
	if ok1 && ok2 && r.kind(b, name+"."+buf, reflect.Slice) && r.kind(o, name+"."+off, reflect.Int) && b.Len() != int(o.Int()) {
		r.failf("%s holds %d bytes", name, b.Len()-int(o.Int()))
	}
}

// zeroReader checks that a bytes.Reader holds no unread bytes.
func (r *stateReader) zeroReader(name string) {
	s, ok1 := r.field(r.v, name, "s")
	i, ok2 := r.field(r.v, name, "i")
	if ok1 && ok2 && r.kind(s, name+".s", reflect.Slice) && r.kind(i, name+".i", reflect.Int64) && int64(s.Len()) != i.Int() {
		r.failf("%s holds %d bytes", name, int64(s.Len())-i.Int())
	}
}

func (r *stateReader) isFalse(name string) {
	if v, ok := r.field(r.v, name); ok && r.kind(v, name, reflect.Bool) && v.Bool() {
		r.failf("%s is true", name)
	}
}

func (r *stateReader) isEmpty(name string) {
	if v, ok := r.field(r.v, name); ok && r.kind(v, name, reflect.Slice) && v.Len() != 0 {
		r.failf("%s holds %d bytes", name, v.Len())
	}
}

func (r *stateReader) isZeroInt(path ...string) {
	if v, ok := r.field(r.v, path...); ok && r.kind(v, path[len(path)-1], reflect.Int, reflect.Int32) && v.Int() != 0 {
		r.failf("%v is %d", path, v.Int())
	}
}

// half reads one halfConn: no error, TLS 1.3, no pending cipher change, its traffic
// secret (a copy) and sequence number.
func (r *stateReader) half(name string) ([]byte, uint64) {
	h, ok := r.field(r.v, name)
	if !ok {
		return nil, 0
	}
	sub := stateReader{v: h}
	sub.isNil("err")
	sub.isNil("nextCipher")
	if v, ok := sub.field(h, "version"); ok && sub.kind(v, name+".version", reflect.Uint16) && v.Uint() != tls.VersionTLS13 {
		sub.failf("%s.version is %#04x", name, v.Uint())
	}
	var seq uint64
	if v, ok := sub.field(h, "seq"); ok && sub.kind(v, name+".seq", reflect.Array) {
		if v.Len() != 8 {
			sub.failf("%s.seq has %d bytes", name, v.Len())
		} else {
			for i := range 8 {
				seq = seq<<8 | v.Index(i).Uint()
			}
		}
	}
	var secret []byte
	if v, ok := sub.field(h, "trafficSecret"); ok && sub.kind(v, name+".trafficSecret", reflect.Slice) {
		secret = make([]byte, v.Len())
		for i := range secret {
			secret[i] = byte(v.Index(i).Uint())
		}
	}
	if sub.err != nil && r.err == nil {
		r.err = sub.err
	}
	return secret, seq
}
