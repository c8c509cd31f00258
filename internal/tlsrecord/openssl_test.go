package tlsrecord

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestOpenSSLPeer: OpenSSL's s_client as the peer (another TLS implementation), on the
// suite crypto/tls never picks while AES-128 is offered (TLS_AES_256_GCM_SHA384, so
// SHA-384 key derivation) and on ChaCha20-Poly1305; its "K" command sends a real
// KeyUpdate with update_requested, which the server must follow and answer.
func TestOpenSSLPeer(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl is needed for this test (apt-get install openssl): %v", err)
	}
	for _, tc := range []struct {
		name  string
		suite uint16
	}{
		{"TLS_AES_256_GCM_SHA384", tls.TLS_AES_256_GCM_SHA384},
		{"TLS_CHACHA20_POLY1305_SHA256", tls.TLS_CHACHA20_POLY1305_SHA256},
		{"TLS_AES_128_GCM_SHA256", tls.TLS_AES_128_GCM_SHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ln.Close() })
			cmd := exec.Command(openssl, "s_client", "-connect", ln.Addr().String(), "-tls1_3",
				"-ciphersuites", tc.name) // no -ign_eof: it turns the K command off
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			raw, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			tc0 := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{testCert()}})
			_ = tc0.SetDeadline(time.Now().Add(10 * time.Second))
			if err := tc0.Handshake(); err != nil {
				t.Fatal(err)
			}
			_ = tc0.SetDeadline(time.Time{})
			if got := tc0.ConnectionState().CipherSuite; got != tc.suite {
				t.Fatalf("negotiated %#04x", got)
			}
			c, err := Detach(tc0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			out := bufio.NewReader(stdout)
			lines := bufio.NewReader(c)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			exchange := func(line string) {
				t.Helper()
				if _, err := io.WriteString(stdin, line+"\n"); err != nil {
					t.Fatal(err)
				}
				got, err := lines.ReadString('\n')
				if err != nil || got != line+"\n" {
					t.Fatalf("server read %q, %v (waiting for %q; read seq %d)", got, err, line, c.in.seq)
				}
				if _, err := io.WriteString(c, "echo "+line+"\n"); err != nil {
					t.Fatal(err)
				}
				for { // s_client prints the handshake details first
					s, err := out.ReadString('\n')
					if err != nil {
						t.Fatalf("reading s_client: %v", err)
					}
					if strings.TrimSpace(s) == "echo "+line {
						return
					}
				}
			}
			exchange("before")
			if _, err := io.WriteString(stdin, "K\n"); err != nil { // KeyUpdate, update_requested
				t.Fatal(err)
			}
			// s_client takes a command only at the start of what one read(2) of its stdin
			// returns, and drops the rest: the next line must come in a later read.
			time.Sleep(300 * time.Millisecond)
			exchange("after the key update")
			if c.in.seq != 1 || c.out.seq != 1 {
				t.Fatalf("sequence numbers in %d out %d: the keys did not change both ways", c.in.seq, c.out.seq)
			}
			exchange("and once more")
		})
	}
}
