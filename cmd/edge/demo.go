package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/proxy"
)

func init() {
	register("demo", "run a local demo with two built-in upstreams on 127.0.0.1:8080", cmdDemo)
}

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", "demo [--listen ADDR] [--log-level LEVEL]", stdout)
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve the demo on")
	locale := fs.String("locale", "ko", "chat nicknames and UI language: ko or en")
	level := fs.String("log-level", "warn", "debug, info, warn or error")
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	if code, done := noExtraArgs(fs, stderr); done {
		return code
	}
	if *locale != "ko" && *locale != "en" {
		fmt.Fprintf(stderr, "edge demo: --locale must be ko or en, not %q\n", *locale)
		return 2
	}
	log, err := newLogger(*level, os.Stderr)
	if err != nil {
		fmt.Fprintf(stderr, "edge demo: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := runDemo(ctx, *listen, *locale, stdout, log); err != nil {
		fmt.Fprintf(stderr, "edge demo: %v\n", err)
		return 1
	}
	return 0
}

// runDemo serves the demo until ctx ends: two upstreams on loopback ports that say
// their color, edge in front of them on listen, the chat (in-memory store) at /chat/,
// state and admin socket in a temp dir.
func runDemo(ctx context.Context, listen, locale string, out io.Writer, log *zap.Logger) error {
	dir, err := os.MkdirTemp("", "edge-demo-")
	if err != nil {
		return fmt.Errorf("creating a temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	blue, err := startDemoUpstream("blue", "#1d4ed8")
	if err != nil {
		return err
	}
	defer blue.stop()
	green, err := startDemoUpstream("green", "#15803d")
	if err != nil {
		return err
	}
	defer green.stop()
	secret, err := loadOrCreateSecret(dir)
	if err != nil {
		return err
	}
	hub, err := chat.New(chat.Config{Mount: "/chat/", NicknameLocale: locale, Secret: secret, KeepHijackedConns: true}, log)
	if err != nil {
		return err
	}
	if err := hub.Start(); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hub.Shutdown(sctx)
	}()
	cfg := proxy.Config{
		HTTPAddr: listen,
		Apps: []proxy.AppConfig{{
			Name: "demo", Blue: []string{blue.addr}, Green: []string{green.addr}, Drain: 5 * time.Second,
			Health: proxy.HealthConfig{Path: "/health", Interval: time.Second, Timeout: time.Second, Rise: 2, Fall: 2},
		}},
		Sites: []proxy.SiteConfig{{Hosts: []string{"*"}, Routes: []proxy.RouteConfig{
			{Path: "/", App: "demo"},
			{Path: "/chat/", Handler: "chat"},
		}}},
		Handlers:      map[string]fasthttp.RequestHandler{"chat": hub.Handler()},
		AdminHandlers: map[string]http.Handler{chat.AdminPrefix: hub.AdminHandler()},
		StateFile:     filepath.Join(dir, "state.json"),
		AdminSocket:   filepath.Join(dir, "admin.sock"),
	}
	p, err := proxy.New(cfg, log)
	if err != nil {
		return err
	}
	if err := p.Start(); err != nil {
		return err
	}
	sock := p.AdminSocket()
	fmt.Fprintf(out, `edge demo is running on http://%s — open it in a browser; blue is live.
The chat is at http://%[1]s/chat/ (in-memory store: messages vanish when the demo stops).

Two demo upstreams: blue on %s, green on %s. In another terminal:

  edge switch green --socket %s     # health-checks green, moves traffic, drains blue
  edge status --socket %s
  edge rollback --socket %s
  edge chat rooms --socket %s       # moderation: rooms, delete, ban, unban, bans

Press Ctrl-C to stop; the demo's state lives in %s and is removed on exit.
`, p.HTTPAddr(), blue.addr, green.addr, sock, sock, sock, sock, dir)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.Shutdown(sctx)
}

type demoUpstream struct {
	addr string
	srv  *fasthttp.Server
	ln   net.Listener
}

func (d *demoUpstream) stop() {
	_ = d.srv.Shutdown()
	_ = d.ln.Close()
}

// startDemoUpstream serves a page saying its color (refreshing itself, so a switch
// shows up in the browser) and /health.
func startDemoUpstream(color, hex string) (*demoUpstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the %s demo upstream: %w", color, err)
	}
	page := fmt.Sprintf(`<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="1">
<title>edge demo: %[1]s</title><style>body{margin:0;height:100vh;display:flex;align-items:center;justify-content:center;
background:%[2]s;color:#fff;font:bold 12vw system-ui,sans-serif}</style></head><body>%[1]s</body></html>
`, color, hex)
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.Set("X-Color", color)
			if string(ctx.Path()) == "/health" {
				ctx.SetContentType("text/plain; charset=utf-8")
				ctx.SetBodyString(color + " is healthy\n")
				return
			}
			ctx.SetContentType("text/html; charset=utf-8")
			ctx.SetBodyString(page)
		},
		ReadTimeout: 30 * time.Second, IdleTimeout: time.Minute, NoDefaultServerHeader: true,
	}
	go func() { _ = srv.Serve(ln) }()
	return &demoUpstream{addr: ln.Addr().String(), srv: srv, ln: ln}, nil
}
