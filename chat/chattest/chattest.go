// Package chattest serves a chat.Hub on a real loopback listener (127.0.0.1, port 0)
// for tests in any package.
package chattest

import (
	"context"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edge-server/edge/chat"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// Secret is the session secret used when the config has none.
var Secret = []byte("chattest-secret-0123456789abcdef-0123456789")

// Server is a started Hub behind a fasthttp server on 127.0.0.1:0.
type Server struct {
	Hub *chat.Hub
	// Addr is host:port; URL is "http://Addr" + mount (ends with "/").
	Addr string
	URL  string

	srv  *fasthttp.Server
	ln   net.Listener
	once sync.Once
}

// Options changes how Start serves the hub.
type Options struct {
	// Listener, if set, wraps the loopback listener (e.g. to serve TLS, or to hand the
	// hub connections that are not *net.TCPConn).
	Listener func(net.Listener) net.Listener
	// KeepHijackedConns sets it on both the fasthttp.Server and the hub's Config.
	KeepHijackedConns bool
}

// Start builds, starts and serves a hub; it is shut down when the test ends (or by
// Close). A nil log discards logs.
func Start(t testing.TB, cfg chat.Config, log *zap.Logger) *Server {
	t.Helper()
	return StartWith(t, cfg, log, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, cfg chat.Config, log *zap.Logger, opts Options) *Server {
	t.Helper()
	if len(cfg.Secret) == 0 {
		cfg.Secret = Secret
	}
	cfg.KeepHijackedConns = cfg.KeepHijackedConns || opts.KeepHijackedConns
	if cfg.Mount == "" {
		cfg.Mount = chat.DefaultMount
	}
	if log == nil {
		log = zap.NewNop()
	}
	hub, err := chat.New(cfg, log)
	if err != nil {
		t.Fatalf("chattest: chat.New: %v", err)
	}
	if err := hub.Start(); err != nil {
		t.Fatalf("chattest: starting the hub: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("chattest: listening: %v", err)
	}
	if opts.Listener != nil {
		ln = opts.Listener(ln)
	}
	s := &Server{Hub: hub, ln: ln, Addr: ln.Addr().String()}
	s.URL = "http://" + s.Addr + cfg.Mount
	s.srv = &fasthttp.Server{Handler: hub.Handler(), Name: "chattest", Logger: quiet{}, KeepHijackedConns: cfg.KeepHijackedConns}
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(s.Close)
	return s
}

// WSURL is the WebSocket URL for a session token.
func (s *Server) WSURL(token string) string {
	return "ws://" + s.Addr + strings.TrimPrefix(s.URL, "http://"+s.Addr) + "ws?token=" + url.QueryEscape(token)
}

// Close shuts the hub down (flush, close sockets with 1001) and stops the server.
func (s *Server) Close() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = s.Hub.Shutdown(ctx)
		_ = s.srv.ShutdownWithContext(ctx)
		_ = s.ln.Close()
	})
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}
