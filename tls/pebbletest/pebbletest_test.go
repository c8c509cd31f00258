package pebbletest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestStartServesDirectoryAndDNS(t *testing.T) {
	p := Start(t, Options{Quiet: true})
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.ServerRootPEM) || !x509.NewCertPool().AppendCertsFromPEM(p.IssuerRootPEM) {
		t.Fatal("roots are not PEM certificates")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodGet, p.DirectoryURL, nil)
	req.Header.Set("User-Agent", "pebbletest-test")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", p.DirectoryURL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"newOrder"`) {
		t.Fatalf("directory: %d %s", resp.StatusCode, body)
	}

	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	for _, tc := range []struct {
		qtype uint16
		want  int
	}{{dns.TypeA, 1}, {dns.TypeAAAA, 0}, {dns.TypeTXT, 0}} {
		m := new(dns.Msg)
		m.SetQuestion("anything.example.", tc.qtype)
		r, _, err := c.Exchange(m, p.DNSAddr)
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != tc.want {
			t.Fatalf("DNS %s: %v %v", dns.TypeToString[tc.qtype], r, err)
		}
		if tc.want == 1 {
			if a, ok := r.Answer[0].(*dns.A); !ok || !a.A.Equal(net.IPv4(127, 0, 0, 1)) {
				t.Fatalf("A answer %v", r.Answer)
			}
		}
	}
}

func TestRelayForwards(t *testing.T) {
	p := Start(t, Options{Quiet: true})
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = echo.Close() })
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); _ = c.Close() }()
		}
	}()
	// before Forward the relay closes connections
	if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.HTTPPort))); err == nil {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, _ := c.Read(make([]byte, 1)); n != 0 {
			t.Error("unforwarded relay sent data")
		}
		_ = c.Close()
	}
	p.Forward(echo.Addr().String(), echo.Addr().String())
	for _, port := range []int{p.HTTPPort, p.TLSPort} {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte("ping"))
		_ = c.(*net.TCPConn).CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, _ := io.ReadAll(c)
		_ = c.Close()
		if string(got) != "ping" {
			t.Errorf("relay on %d echoed %q", port, got)
		}
	}
}

func TestOrderIdentifiers(t *testing.T) {
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"identifiers":[{"type":"dns","value":"a.test"},{"type":"dns","value":"b.test"}]}`))
	cases := map[string][]string{
		`{"payload":"` + payload + `"}`: {"a.test", "b.test"},
		`{"payload":"!!!"}`:             nil,
		`not json`:                      nil,
		`{"payload":"` + base64.RawURLEncoding.EncodeToString([]byte("[]")) + `"}`: nil,
		``: nil,
	}
	for in, want := range cases {
		if got := orderIdentifiers([]byte(in)); len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
			t.Errorf("orderIdentifiers(%q) = %v, want %v", in, got, want)
		}
	}
}

func FuzzOrderIdentifiers(f *testing.F) {
	f.Add([]byte(`{"payload":"eyJpZGVudGlmaWVycyI6W3sidmFsdWUiOiJhIn1dfQ"}`))
	f.Add([]byte(`{"payload":""}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_ = orderIdentifiers(body) // must not panic on any body
	})
}
