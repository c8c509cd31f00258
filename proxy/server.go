// Package proxy is edge's HTTP front: listeners, router, blue/green apps with health
// checks and switching, forwarding, WebSocket passthrough, the state file and the
// admin API. It knows nothing of certificates or the chat: it receives a *tls.Config,
// an ACME challenge handler and local handlers as plain values.
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// Server is the proxy service.
type Server struct {
	cfg    Config
	log    *zap.Logger
	access *zap.Logger // nil unless Config.AccessLog
	state  *stateStore
	table  atomic.Pointer[table]

	httpSrv, httpsSrv     *fasthttp.Server
	httpDrain, httpsDrain *connDrain // graceful hand-over at Shutdown (drain.go)
	httpLn, httpsLn       net.Listener
	httpsPort             string // ":8443" when not 443, for redirects
	admin                 *adminServer

	mu        sync.Mutex // reloads, start/stop, retired
	retired   []*slot    // slots a reload replaced; may still carry WebSockets
	started   bool
	stopping  atomic.Bool
	stopCh    chan struct{} // closed when Shutdown starts: held (paused) requests give up
	serveWG   sync.WaitGroup
	sweepWG   sync.WaitGroup // the client timeout sweeps (clienttimeouts.go), until
	sweepStop chan struct{}  // is closed, once the drains are over
}

// New checks cfg, fills defaults, restores the active colors from the state file and
// builds the routing table. It opens no sockets; Start does.
func New(cfg Config, log *zap.Logger) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cfg = withDefaults(cfg)
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("proxy config: %w", err)
	}
	s := &Server{cfg: cfg, log: log.Named("proxy"), stopCh: make(chan struct{})}
	if cfg.AccessLog {
		s.access = log.Named("access")
	}
	s.state = &stateStore{path: cfg.StateFile, log: s.log}
	restored := s.state.load()
	b := &tableBuilder{cfg: &s.cfg, log: s.log, restored: restored, consumer: s}
	t, err := b.build()
	if err != nil {
		return nil, fmt.Errorf("proxy config: %w", err)
	}
	s.table.Store(t)
	for _, a := range t.order {
		if sa, ok := restored[a.name]; ok {
			s.log.Info("restored the app's state from the state file", zap.String("app", a.name),
				zap.String("active", sa.Active.String()), zap.Int("weight", sa.Weight), zap.Bool("paused", sa.Paused),
				zap.Bool("maintenance", sa.Maintenance), zap.String("file", cfg.StateFile))
		}
	}
	return s, nil
}

// Name implements the service interface of cmd/edge.
func (s *Server) Name() string { return "proxy" }

// Start health-checks every upstream once (warning about an unhealthy live color),
// then listens and serves. It does not block.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("proxy already started")
	}
	t := s.table.Load()
	s.initialChecks(t)
	if err := s.listen(); err != nil {
		return err
	}
	if s.cfg.AdminSocket != "" {
		a, err := startAdmin(s, s.cfg.AdminSocket)
		if err != nil {
			s.closeListeners()
			return err
		}
		s.admin = a
	}
	for _, sl := range t.slots() {
		sl.health.start()
	}
	s.sweepStop = make(chan struct{})
	l := s.cfg.Limits
	to := clientTimeouts{read: l.ReadTimeout, idle: l.IdleTimeout, write: l.WriteTimeout}
	s.httpDrain = &connDrain{timeouts: to}
	s.httpSrv = s.newFastServer(s.handleHTTP, s.httpDrain, false)
	s.serve(s.httpSrv, s.httpLn, s.httpDrain)
	if s.httpsLn != nil {
		s.httpsDrain = &connDrain{timeouts: to}
		s.httpsSrv = s.newFastServer(s.handleHTTPS, s.httpsDrain, true)
		s.serve(s.httpsSrv, s.httpsLn, s.httpsDrain)
	}
	s.started = true
	fields := []zap.Field{zap.String("http", s.HTTPAddr())}
	if s.httpsLn != nil {
		fields = append(fields, zap.String("https", s.HTTPSAddr()))
	}
	if s.admin != nil {
		fields = append(fields, zap.String("admin_socket", s.cfg.AdminSocket))
	}
	s.log.Info("proxy listening", fields...)
	return nil
}

// initialChecks checks both colors of every app once, in parallel, before serving.
func (s *Server) initialChecks(t *table) {
	var wg sync.WaitGroup
	for _, sl := range t.slots() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), sl.health.cfg.Timeout)
			defer cancel()
			sl.health.record(sl.health.check(ctx))
		}()
	}
	wg.Wait()
	for _, a := range t.order {
		for _, live := range a.pools[a.activeColor()].replicas {
			if ok, _, reason, _ := live.health.snapshot(); !ok {
				s.log.Warn("a replica of the live color is not healthy; it keeps serving while no replica is, switch when the other color is ready",
					zap.String("app", a.name), zap.String("color", live.cname), zap.String("upstream", live.addr),
					zap.String("reason", reason))
			}
		}
	}
}

func (s *Server) listen() error {
	var err error
	s.httpLn = s.cfg.HTTPListener
	if s.httpLn == nil {
		if s.httpLn, err = listenTCP(s.cfg.HTTPAddr); err != nil {
			return fmt.Errorf("listening for HTTP on %s: %w", s.cfg.HTTPAddr, err)
		}
	}
	if !s.cfg.httpsEnabled() {
		return nil
	}
	ln := s.cfg.HTTPSListener
	if ln == nil {
		if ln, err = listenTCP(s.cfg.HTTPSAddr); err != nil {
			s.closeListeners()
			return fmt.Errorf("listening for HTTPS on %s: %w", s.cfg.HTTPSAddr, err)
		}
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); ok && ta.Port != 443 {
		s.httpsPort = ":" + strconv.Itoa(ta.Port)
	}
	s.httpsLn = tls.NewListener(ln, serverTLSConfig(s.cfg.TLSConfig))
	return nil
}

func (s *Server) closeListeners() {
	for _, ln := range []net.Listener{s.httpLn, s.httpsLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

func (s *Server) newFastServer(h fasthttp.RequestHandler, d *connDrain, keepHijacked bool) *fasthttp.Server {
	l := s.cfg.Limits
	return &fasthttp.Server{
		Handler:      d.wrap(h),
		ConnState:    d.hook,
		ErrorHandler: d.wrapError(s.handleParseError),
		// No Name: fasthttp would then add "Server: edge" to every response after the
		// handler, and a header rule could not remove it; setServerHeader does it.
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		ReadBufferSize:        l.MaxHeaderBytes,
		MaxRequestBodySize:    l.MaxBodyBytes,
		// No ReadTimeout, WriteTimeout, IdleTimeout: fasthttp would update the socket's
		// deadlines three times per request; d enforces them (clienttimeouts.go).
		DisablePreParseMultipartForm: true,
		// Shutdown does not use fasthttp's Shutdown (it closes idle keep-alive
		// connections in a race with the client's next request); connDrain does.
		// On HTTPS, hijacked connections (WebSocket passthrough, the chat) are closed by
		// their handlers, which lets the chat detach TLS sockets from fasthttp's
		// per-request memory (and, for TLS 1.3, hand them to internal/tlsrecord; cmd/edge sets
		// chat.Config.KeepHijackedConns). On plain HTTP the chat detaches by duplicating
		// the socket, and letting fasthttp close the original returns its read buffer to
		// the pool (with keep on, fasthttp v1.74 drops that ~12 KiB buffer per upgrade).
		KeepHijackedConns: keepHijacked,
		Logger:            fastLogger{s.log.Named("fasthttp")},
	}
}

func (s *Server) serve(srv *fasthttp.Server, ln net.Listener, d *connDrain) {
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		if err := srv.Serve(ln); err != nil && !s.stopping.Load() {
			s.log.Error("listener stopped", zap.String("addr", ln.Addr().String()), zap.Error(err))
		}
	}()
	s.sweepWG.Add(1)
	go func() {
		defer s.sweepWG.Done()
		d.sweep(s.sweepStop)
	}()
}

// HTTPAddr is the address the HTTP listener is bound to ("" before Start).
func (s *Server) HTTPAddr() string { return lnAddr(s.httpLn) }

// HTTPSAddr is the address the HTTPS listener is bound to ("" when HTTPS is off).
func (s *Server) HTTPSAddr() string { return lnAddr(s.httpsLn) }

// AdminSocket is the admin API's unix socket path ("" when disabled).
func (s *Server) AdminSocket() string { return s.cfg.AdminSocket }

func lnAddr(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// Shutdown hands the clients over gracefully (drain.go): it stops accepting at once,
// lets in-flight requests finish until ctx ends, answers what keep-alive clients send
// meanwhile with `Connection: close`, half-closes quiet connections, and returns as
// soon as no client connection is left. It also closes proxied WebSockets with 1001,
// stops health checks and removes the admin socket.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.stopping.Load() {
		return nil
	}
	s.stopping.Store(true)
	close(s.stopCh)
	drains := []*connDrain{s.httpDrain, s.httpsDrain}
	for _, d := range drains {
		if d != nil {
			d.begin() // before the listeners close: every later response says close
		}
	}
	s.closeListeners() // Serve returns; under edge.socket systemd keeps the socket
	var errs []error
	if s.admin != nil {
		errs = append(errs, s.admin.shutdown(ctx))
	}
	var wg sync.WaitGroup
	var drainErrs [2]error
	for i, d := range drains {
		if d == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.drain(ctx); err != nil {
				drainErrs[i] = fmt.Errorf("waiting for in-flight requests: %w", err)
			}
		}()
	}
	slots := append(s.table.Load().slots(), s.retired...)
	// Proxied WebSockets get wsGrace (or what is left of ctx) to exchange close
	// frames; then they are closed whatever their peers do.
	deadline := time.Now().Add(wsGrace)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for _, sl := range slots {
		sl.ws.goAwayAll(reasonShutdown, deadline)
	}
	for _, sl := range slots {
		sl.ws.waitEmpty(deadline)
	}
	for _, sl := range slots {
		sl.ws.closeAll(reasonShutdown)
	}
	wg.Wait()
	close(s.sweepStop)
	s.sweepWG.Wait()
	errs = append(errs, drainErrs[:]...)
	s.serveWG.Wait()
	for _, sl := range slots {
		sl.stop()
	}
	err := errors.Join(errs...)
	s.log.Info("proxy stopped", zap.Error(err))
	return err
}

// fastLogger routes fasthttp's own messages to zap at debug level: they are about
// single misbehaving clients, which the error handler already answers.
type fastLogger struct{ log *zap.Logger }

func (l fastLogger) Printf(format string, args ...any) {
	if ce := l.log.Check(zap.DebugLevel, "fasthttp"); ce != nil {
		ce.Write(zap.String("message", fmt.Sprintf(format, args...)))
	}
}
