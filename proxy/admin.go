package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
)

// adminServer is the HTTP/JSON admin API on a unix socket.
type adminServer struct {
	s    *Server
	path string
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
	// extra is Config.AdminHandlers, copied at start (Reload does not change it).
	extra map[string]http.Handler
}

// startAdmin listens on path (mode 0660), replacing a stale socket left by a crash
// but never a live one or a file that is not a socket.
func startAdmin(s *Server, path string) (*adminServer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("creating the admin socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("admin socket %s exists and is not a socket; remove it or choose another admin_socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("admin socket %s is in use: is another edge running?", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale admin socket: %w", err)
		}
		s.log.Info("removed a stale admin socket", zap.String("path", path))
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on the admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("setting the admin socket's mode: %w", err)
	}
	a := &adminServer{s: s, path: path, ln: ln, done: make(chan struct{}), extra: map[string]http.Handler{}}
	for prefix, h := range s.cfg.AdminHandlers {
		a.extra[prefix] = h
	}
	a.srv = &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(a.done)
		_ = a.srv.Serve(ln)
	}()
	return a, nil
}

func (a *adminServer) shutdown(ctx context.Context) error {
	err := a.srv.Shutdown(ctx)
	if err != nil {
		_ = a.srv.Close()
	}
	<-a.done
	_ = os.Remove(a.path)
	if err != nil {
		return fmt.Errorf("stopping the admin API: %w", err)
	}
	return nil
}

func (a *adminServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for prefix, h := range a.extra {
		if strings.HasPrefix(r.URL.Path, prefix) {
			r.Body = http.MaxBytesReader(w, r.Body, MaxAdminBody)
			h.ServeHTTP(w, r)
			return
		}
	}
	want := map[string]string{"/status": http.MethodGet, "/switch": http.MethodPost, "/rollback": http.MethodPost, "/reload": http.MethodPost,
		"/pause": http.MethodPost, "/resume": http.MethodPost, "/maintenance": http.MethodPost}
	method, ok := want[r.URL.Path]
	if !ok {
		writeAdminError(w, errorf(CodeNotFound, 404, fmt.Sprintf("no admin endpoint %s; there are GET /status, POST /switch, POST /rollback, POST /reload, POST /pause, POST /resume, POST /maintenance", r.URL.Path)))
		return
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		writeAdminError(w, errorf(CodeMethodNotAllowed, 405, fmt.Sprintf("%s takes %s, not %s", r.URL.Path, method, r.Method)))
		return
	}
	if r.URL.Path == "/status" {
		writeJSON(w, 200, a.s.Status())
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxAdminBody+1))
	if err != nil {
		writeAdminError(w, badRequest("reading the request body: %v", err))
		return
	}
	if len(body) > MaxAdminBody {
		writeAdminError(w, badRequest("the request body is larger than %d bytes", MaxAdminBody))
		return
	}
	switch r.URL.Path {
	case "/switch":
		cmd, e := decodeSwitch(body)
		if e != nil {
			writeAdminError(w, e)
			return
		}
		if f := a.s.cfg.Fleet; f != nil {
			if cmd.auto != nil || cmd.opts.Weight > 0 || cmd.opts.MinHealthy > 0 {
				writeAdminError(w, badRequest("with cluster: configured a switch is fleet-wide, and canaries (weight, auto) and min_healthy are not yet; switch the whole fleet, or run the canary on an edge without cluster:"))
				return
			}
			a.answer(w, func() (any, error) { return f.Switch(r.Context(), cmd.app, cmd.color, cmd.timeout) })
			return
		}
		if cmd.auto != nil {
			a.answer(w, func() (any, error) { return a.s.SwitchAuto(r.Context(), cmd.app, cmd.color, *cmd.auto) })
			return
		}
		a.answer(w, func() (any, error) { return a.s.SwitchWith(r.Context(), cmd.app, cmd.color, cmd.opts) })
	case "/rollback":
		cmd, e := decodeRollback(body)
		if e != nil {
			writeAdminError(w, e)
			return
		}
		if f := a.s.cfg.Fleet; f != nil {
			a.answer(w, func() (any, error) { return f.Rollback(r.Context(), cmd.app, cmd.timeout) })
			return
		}
		a.answer(w, func() (any, error) { return a.s.Rollback(r.Context(), cmd.app, cmd.timeout) })
	case "/pause", "/resume", "/maintenance":
		a.traffic(w, r, body)
	case "/reload":
		if e := decodeStrict(body, &struct{}{}, true); e != nil {
			writeAdminError(w, e)
			return
		}
		a.reload(w, r)
	}
}

// traffic serves POST /pause, /resume and /maintenance.
func (a *adminServer) traffic(w http.ResponseWriter, r *http.Request, body []byte) {
	var cmd trafficCommand
	var e *Error
	switch r.URL.Path {
	case "/pause":
		cmd, e = decodePause(body)
	case "/resume":
		cmd, e = decodeResume(body)
	default:
		cmd, e = decodeMaintenance(body)
	}
	if e != nil {
		writeAdminError(w, e)
		return
	}
	var res *TrafficResult
	var err error
	switch r.URL.Path {
	case "/pause":
		res, err = a.s.Pause(r.Context(), cmd.app, cmd.maxWait)
	case "/resume":
		res, err = a.s.Resume(r.Context(), cmd.app)
	default:
		res, err = a.s.Maintenance(r.Context(), cmd.app, cmd.on, cmd.message)
	}
	if err != nil {
		writeAdminError(w, err)
		return
	}
	writeJSON(w, 200, res)
}

func (a *adminServer) answer(w http.ResponseWriter, do func() (any, error)) {
	res, err := do()
	if err != nil {
		writeAdminError(w, err)
		return
	}
	writeJSON(w, 200, res)
}

func (a *adminServer) reload(w http.ResponseWriter, r *http.Request) {
	fn := a.s.table.Load().reload
	if fn == nil {
		writeAdminError(w, errorf(CodeReloadUnavailable, 501, "reload is not available in this edge; restart it to apply a new config"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	if err := fn(ctx); err != nil {
		a.s.log.Warn("reload failed", zap.Error(err))
		writeAdminError(w, errorf(CodeReloadFailed, 500, "reload failed, the running config is unchanged: "+err.Error()))
		return
	}
	writeJSON(w, 200, map[string]string{"message": "configuration reloaded"})
}

// AdminError is the JSON body of every admin API error.
type AdminError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeAdminError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = errorf("internal", 500, err.Error())
	}
	writeJSON(w, e.Status, AdminError{Error: e.Msg, Code: e.Code})
}

// adminWriteTimeout bounds writing one admin answer: a CLI that stops reading must
// not hold a handler forever. It cannot be a server-wide WriteTimeout, which would
// count from the request and cut a switch that drains for minutes. A var for tests.
var adminWriteTimeout = 10 * time.Second

func writeJSON(w http.ResponseWriter, status int, v any) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(adminWriteTimeout))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
