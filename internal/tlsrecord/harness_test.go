package tlsrecord

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

var testCert = sync.OnceValue(func() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
})

// keyLog collects a client's NSS key log lines.
type keyLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (k *keyLog) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.buf.Write(p)
}

func (k *keyLog) secret(t *testing.T, label string) []byte {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(k.buf.Bytes()))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == label {
			b, err := hex.DecodeString(f[2])
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no %s in the key log", label)
	return nil
}

// pair is a real crypto/tls client and server over loopback TCP; the server side is
// what Detach takes over. raw is the client's TCP socket, for hand-made records.
type pair struct {
	server *tls.Conn
	client *tls.Conn
	raw    net.Conn
	keys   *keyLog
	suite  *suite
}

func newPair(t *testing.T, maxVersion uint16) *pair {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	type accepted struct {
		c   *tls.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- accepted{err: err}
			return
		}
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{testCert()}, MaxVersion: maxVersion})
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		err = tc.Handshake()
		_ = tc.SetDeadline(time.Time{})
		ch <- accepted{tc, err}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{raw: raw, keys: &keyLog{}}
	p.client = tls.Client(raw, &tls.Config{InsecureSkipVerify: true, KeyLogWriter: p.keys})
	t.Cleanup(func() { _ = p.client.Close() })
	if err := p.client.Handshake(); err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	p.server = a.c
	t.Cleanup(func() { _ = p.server.Close() })
	p.suite = suiteByID(p.client.ConnectionState().CipherSuite)
	return p
}

// detach takes the server over and fails the test if that is refused.
func (p *pair) detach(t *testing.T) *Conn {
	t.Helper()
	c, err := Detach(p.server)
	if err != nil {
		t.Fatalf("Detach: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// handWriter sends client records built by hand from the key log, continuing the
// client's own sequence numbers: after it is used, the client tls.Conn must not write.
func (p *pair) handWriter(t *testing.T, clientRecords uint64) *direction {
	t.Helper()
	d := &direction{}
	if err := d.set(p.suite, p.keys.secret(t, "CLIENT_TRAFFIC_SECRET_0"), clientRecords); err != nil {
		t.Fatal(err)
	}
	return d
}

func (p *pair) sendRaw(t *testing.T, b []byte) {
	t.Helper()
	if _, err := p.raw.Write(b); err != nil {
		t.Fatal(err)
	}
}

func seal(t *testing.T, d *direction, typ byte, data []byte) []byte {
	t.Helper()
	rec, err := d.seal(nil, typ, data)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// readErr reads from c until an error and returns it (bounded by a deadline).
func readErr(t *testing.T, c net.Conn) error {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1<<15)
	for {
		if _, err := c.Read(buf); err != nil {
			return err
		}
	}
}

func valueOf(c *tls.Conn) reflect.Value { return reflect.ValueOf(c).Elem() }
