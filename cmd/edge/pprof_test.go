package main

import (
	"io"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestPprofListenerOnlyOnLoopbackWhenAsked(t *testing.T) {
	for _, v := range []string{"", "0.0.0.0:0", "192.0.2.1:6060", "localhost:6060", "127.0.0.1", "garbage", "[::1]:notaport"} {
		t.Run("refused "+v, func(t *testing.T) {
			t.Setenv(pprofEnv, v)
			addr, stop := startPprof(zap.NewNop())
			defer stop()
			if addr != "" {
				t.Fatalf("%s=%q started a listener on %s", pprofEnv, v, addr)
			}
		})
	}
	t.Run("served on 127.0.0.1", func(t *testing.T) {
		t.Setenv(pprofEnv, "127.0.0.1:0")
		addr, stop := startPprof(zap.NewNop())
		defer stop()
		if addr == "" {
			t.Fatal("no listener")
		}
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get("http://" + addr + "/debug/pprof/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		resp, err = c.Get("http://" + addr + "/elsewhere")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("/elsewhere: %d, want 404", resp.StatusCode)
		}
	})
}
