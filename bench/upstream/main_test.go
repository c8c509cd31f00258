package main

import (
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestUpstreamAnswersByLastSegment(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer("green")
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Shutdown() })
	c := &fasthttp.Client{}
	tests := []struct {
		path string
		size int
	}{
		{"/health", 3},
		{"/up/health", 3},
		{"/up/big", bigSize},
		{"/big", bigSize},
		{"/up/small", smallSize},
		{"/", smallSize},
		{"/healthz", smallSize},
		{"/xbig", smallSize},
		{"/%2e%2e/big", bigSize},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			req := fasthttp.AcquireRequest()
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + ln.Addr().String() + tc.path)
			if err := c.DoTimeout(req, resp, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode() != 200 {
				t.Fatalf("status %d", resp.StatusCode())
			}
			if got := len(resp.Body()); got != tc.size {
				t.Fatalf("body %d bytes, want %d", got, tc.size)
			}
			if got := string(resp.Header.Peek("X-Upstream")); got != "green" {
				t.Fatalf("X-Upstream %q, want green", got)
			}
		})
	}
}

func TestHasLastSegment(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"/big", true}, {"/a/big", true}, {"big", false}, {"/abig", false}, {"", false}, {"/", false}, {"/big/", false},
	}
	for _, tc := range tests {
		if got := hasLastSegment([]byte(tc.path), "big"); got != tc.want {
			t.Errorf("hasLastSegment(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}
