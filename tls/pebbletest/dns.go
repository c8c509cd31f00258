package pebbletest

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// startDNS serves DNS over TCP on 127.0.0.1 (pebble's VA queries over TCP) and answers
// every A question with 127.0.0.1 and every other question with an empty answer.
func startDNS(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pebbletest: listening for DNS: %v", err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(answerLoopback)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ActivateAndServe()
	}()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	return ln.Addr().String()
}

func answerLoopback(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	for _, q := range req.Question {
		if q.Qtype != dns.TypeA || q.Qclass != dns.ClassINET {
			continue
		}
		resp.Answer = append(resp.Answer, &dns.A{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0},
			A:   net.IPv4(127, 0, 0, 1),
		})
	}
	_ = w.WriteMsg(resp)
}
