package proxy

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestReloadKeepsConnectionsAndColors(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	apiBlue, apiGreen := startUpstream(t, "api-blue"), startUpstream(t, "api-green")
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Sites = []SiteConfig{{Hosts: []string{"a.example"}, Routes: []RouteConfig{{Path: "/", App: "web"}}}}
	s := startProxy(t, cfg)
	if _, err := s.Switch(context.Background(), "web", Green, 0); err != nil {
		t.Fatal(err)
	}
	oldGreen := s.table.Load().apps["web"].pools[Green]

	// One keep-alive connection used before and after the reload.
	conn, err := net.Dial("tcp", s.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	ask := func(host string) (int, string) {
		t.Helper()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		var resp fasthttp.Response
		if err := resp.Read(br); err != nil {
			t.Fatalf("reading on the kept connection: %v", err)
		}
		return resp.StatusCode(), string(resp.Body())
	}
	if code, body := ask("a.example"); code != 200 || body != "green" {
		t.Fatalf("before reload %d %q", code, body)
	}
	if code, _ := ask("b.example"); code != 404 {
		t.Fatalf("b.example before reload: %d", code)
	}

	next := cfg
	next.Apps = append(append([]AppConfig(nil), cfg.Apps...),
		AppConfig{Name: "api", Blue: []string{apiBlue.addr}, Green: []string{apiGreen.addr}, Health: fastHealth})
	next.Sites = append(append([]SiteConfig(nil), cfg.Sites...),
		SiteConfig{Hosts: []string{"b.example"}, Routes: []RouteConfig{{Path: "/", App: "api"}}})
	if err := s.Reload(next); err != nil {
		t.Fatal(err)
	}
	if code, body := ask("a.example"); code != 200 || body != "green" {
		t.Fatalf("after reload %d %q", code, body)
	}
	if code, body := ask("b.example"); code != 200 || body != "api-blue" {
		t.Fatalf("new site %d %q", code, body)
	}
	if s.table.Load().apps["web"].pools[Green] != oldGreen {
		t.Fatal("an unchanged slot was rebuilt (pool and health lost)")
	}
	st := s.Status()
	if len(st.Apps) != 2 || st.Apps[0].Active != "green" || st.Apps[0].Previous != "blue" {
		t.Fatalf("status %+v", st)
	}

	// A bad config is refused and changes nothing.
	bad := next
	bad.Sites = []SiteConfig{{Hosts: []string{"c.example"}, Routes: []RouteConfig{{Path: "/", App: "missing"}}}}
	if err := s.Reload(bad); err == nil {
		t.Fatal("reload accepted a route to a missing app")
	}
	if code, body := ask("b.example"); code != 200 || body != "api-blue" {
		t.Fatalf("after a refused reload %d %q", code, body)
	}

	// A changed address gets a fresh slot; the old one is retired.
	moved := startUpstream(t, "green2")
	next.Apps[0].Green = []string{moved.addr}
	if err := s.Reload(next); err != nil {
		t.Fatal(err)
	}
	if code, body := ask("a.example"); code != 200 || body != "green2" {
		t.Fatalf("after moving green %d %q", code, body)
	}
}
