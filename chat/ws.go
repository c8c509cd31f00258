package chat

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/edge-server/edge/internal/tlsrecord"
)

// The upgrader only does the handshake; the connection it hands over is then detached
// from fasthttp (see adopt) and framed by wsframe.go.
func (h *Hub) initUpgrader() {
	h.upgrader = websocket.FastHTTPUpgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   128,
		WriteBufferSize:  128,
		WriteBufferPool:  &sync.Pool{},
		CheckOrigin:      h.originOK,
		Error: func(ctx *fasthttp.RequestCtx, status int, reason error) {
			code := CodeBadRequest
			if status == fasthttp.StatusForbidden {
				code = CodeForbidden
			}
			ctx.Response.Header.Set("Sec-Websocket-Version", "13")
			h.jsonError(ctx, status, &Error{Code: code, Message: reason.Error()})
		},
	}
}

// serveWS handles GET {mount}ws?token=T. Origin and the per-IP cap are checked before
// the upgrade (plain HTTP errors); a bad token is reported after it, as an error frame
// and close code 4001, because browsers cannot see the status of a refused upgrade.
func (h *Hub) serveWS(ctx *fasthttp.RequestCtx) {
	if h.closing.Load() || !h.started.Load() {
		h.jsonError(ctx, fasthttp.StatusServiceUnavailable, errShuttingDown)
		return
	}
	if !h.originOK(ctx) {
		h.jsonError(ctx, fasthttp.StatusForbidden, errorf(CodeForbidden, "this origin may not use the chat"))
		return
	}
	ip, _ := netip.AddrFromSlice(ctx.RemoteIP())
	ip = ip.Unmap()
	if !h.acquireIP(ip) {
		h.jsonError(ctx, fasthttp.StatusTooManyRequests, errorf(CodeTooManyConns, "too many connections from this address"))
		return
	}
	user, authErr := h.id.verify(string(ctx.QueryArgs().Peek("token")))
	err := h.upgrader.Upgrade(ctx, func(c *websocket.Conn) { h.adopt(c.NetConn(), ip, user, authErr) })
	if err != nil {
		h.releaseIP(ip)
	}
}

type unsafeConner interface{ UnsafeConn() net.Conn }

// adopt turns an upgraded connection into a session. fasthttp keeps the request context
// and its read buffer alive for as long as the hijack handler runs; to free them, the
// connection is detached and the handler returns: a plain TCP connection by duplicating
// its descriptor and closing the original; any other connection (TLS) only when fasthttp
// keeps hijacked connections open (Config.KeepHijackedConns). Otherwise the handler keeps
// running for the life of the connection.
func (h *Hub) adopt(nc net.Conn, ip netip.Addr, user User, authErr *Error) {
	raw := nc
	if u, ok := nc.(unsafeConner); ok {
		raw = u.UnsafeConn()
	}
	s := &session{h: h, conn: nc, raw: raw, user: user, ip: ip, authErr: authErr}
	now := time.Now().UnixNano()
	s.lastRead.Store(now)
	s.pingAt.Store(now)
	if tcp, ok := raw.(*net.TCPConn); ok || h.cfg.KeepHijackedConns {
		prefix, err := takeBuffered(nc, raw)
		if err != nil {
			h.releaseIP(ip)
			_ = raw.Close()
			return
		}
		s.prefix = prefix
		var dc net.Conn
		if ok {
			if dc, err = detach(tcp); err == nil {
				_ = tcp.Close()
			} else if ce := h.log.Check(zap.DebugLevel, "chat could not detach a connection; keeping the hijack handler"); ce != nil {
				ce.Write(zap.Error(err))
			}
		} else {
			dc = h.detachTLS(raw) // fasthttp keeps hijacked connections open: take it
		}
		if dc != nil {
			s.conn, s.raw, s.detached = dc, dc, true
			s.initDirect(dc)
			s.initPark(dc)
			if !h.register(s) {
				h.refuseLate(s)
				return
			}
			s.greet()
			go s.run()
			return
		}
	}
	if !h.register(s) {
		h.refuseLate(s)
		return
	}
	s.greet()
	s.run()
	s.waitWriter()
}

// refuseLate ends a connection upgraded just as Shutdown began.
func (h *Hub) refuseLate(s *session) {
	_ = s.raw.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = s.conn.Write(closeFrame(CloseGoingAway, "server shutting down"))
	_ = s.raw.Close()
	h.releaseIP(s.ip)
}

// takeBuffered returns whatever the HTTP server already read past the upgrade request
// (a client that did not wait for the 101), without blocking.
func takeBuffered(nc, raw net.Conn) ([]byte, error) {
	if err := raw.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return nil, err
	}
	var out []byte
	buf := make([]byte, 512)
	for {
		n, err := nc.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, err
			}
			break
		}
	}
	return out, raw.SetReadDeadline(time.Time{})
}

// detachTLS replaces a TLS 1.3 connection by edge's own record layer
// (internal/tlsrecord): the tls.Conn, its input buffers grown for the ClientHello and
// the reader's deep stack inside tls.Conn.Read become garbage, and an idle session keeps
// only the two AEADs and a small struct (see docs/benchmarks.md, TLS idle memory). A
// connection it cannot take over safely (TLS 1.2, data buffered in crypto/tls, another
// Go release's tls.Conn) stays with crypto/tls.
func (h *Hub) detachTLS(c net.Conn) net.Conn {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return c
	}
	rc, err := tlsrecord.Detach(tc)
	if err != nil {
		if ce := h.log.Check(zap.DebugLevel, "chat keeps crypto/tls for a connection"); ce != nil {
			ce.Write(zap.Error(err))
		}
		return c
	}
	return rc
}

// detach duplicates the socket into a new net.Conn owned by the chat.
func detach(c *net.TCPConn) (net.Conn, error) {
	f, err := c.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.FileConn(f)
}
