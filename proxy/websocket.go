package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// isWebSocketUpgrade reports a WebSocket handshake request.
func isWebSocketUpgrade(h *fasthttp.RequestHeader) bool {
	return h.ConnectionUpgrade() && caseEq(h.Peek("Upgrade"), "websocket")
}

// proxyWebSocket passes a WebSocket handshake to the live color. On 101 it hijacks
// the client connection and relays bytes both ways; any other answer is forwarded
// as a normal response.
func (s *Server) proxyWebSocket(ctx *fasthttp.RequestCtx, a *app, v *visitor, rid []byte, t requestTarget) string {
	p := a.acquire(v)
	sl, up, err := p.dialRaw(p.pick(0))
	sl.begin()
	defer sl.end() // the handshake is the request; the socket is tracked apart (on this replica)
	req, _ := appendUpstreamRequest(nil, ctx, t, rid, true)
	req = append(req, ctx.Request.Body()...)
	if err != nil {
		s.upstreamFailed(ctx, sl, err, rid)
		return sl.cname
	}
	head, br, err := s.handshake(up, req)
	if err != nil {
		up.Close()
		s.upstreamFailed(ctx, sl, err, rid)
		return sl.cname
	}
	if status := headStatus(head); status != fasthttp.StatusSwitchingProtocols {
		defer up.Close()
		_ = up.SetDeadline(time.Now().Add(s.cfg.Limits.UpstreamTimeout))
		r := bufio.NewReader(io.MultiReader(bytes.NewReader(head), br))
		if err := ctx.Response.ReadLimitBody(r, s.cfg.Limits.MaxBodyBytes); err != nil {
			s.upstreamFailed(ctx, sl, err, rid)
			return sl.cname
		}
		stripResponseHopByHop(&ctx.Response.Header)
		v.setCookie(&ctx.Response.Header)
		return sl.cname
	}
	wp := &wsProxy{slot: sl, up: up, upR: br, head: head, done: make(chan struct{}), log: s.log,
		writeTimeout: s.cfg.Limits.WriteTimeout}
	sl.ws.add(wp)
	ctx.Response.SetStatusCode(fasthttp.StatusSwitchingProtocols)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(wp.run)
	return sl.cname
}

// handshake sends the upgrade request and reads the response head, bounded by the
// upstream timeout.
func (s *Server) handshake(up net.Conn, req []byte) ([]byte, *bufio.Reader, error) {
	_ = up.SetDeadline(time.Now().Add(s.cfg.Limits.UpstreamTimeout))
	if _, err := up.Write(req); err != nil {
		return nil, nil, fmt.Errorf("sending the WebSocket handshake: %w", err)
	}
	br := bufio.NewReaderSize(up, 4096)
	head, err := readHead(br, s.cfg.Limits.MaxHeaderBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the WebSocket handshake answer: %w", err)
	}
	_ = up.SetDeadline(time.Time{})
	return head, br, nil
}

var errHeadTooLarge = errors.New("the upstream's response header is too large")

// readHead reads a response head up to and including its empty line.
// A line longer than br's buffer comes in pieces; only a piece that starts a line
// can be the empty line.
func readHead(br *bufio.Reader, limit int) ([]byte, error) {
	var head []byte
	lineStart := true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(head)+len(line) > limit {
			return nil, errHeadTooLarge
		}
		head = append(head, line...)
		if err == nil && lineStart && (len(line) == 2 && line[0] == '\r' || len(line) == 1) && len(head) > len(line) {
			return head, nil
		}
		lineStart = err == nil
	}
}

// headStatus parses the status code of "HTTP/1.1 101 Switching Protocols"; 0 if
// the line is not a status line.
func headStatus(head []byte) int {
	if !bytes.HasPrefix(head, []byte("HTTP/1.")) || len(head) < 12 || head[8] != ' ' {
		return 0
	}
	code := 0
	for _, c := range head[9:12] {
		if c < '0' || c > '9' {
			return 0
		}
		code = code*10 + int(c-'0')
	}
	return code
}

// ShutdownReason and switch reason are sent in the close frames edge writes.
const (
	reasonSwitch   = "edge: switching upstream"
	reasonShutdown = "edge: shutting down"
)

// logWS logs a WebSocket lifecycle event at debug level.
func logWS(log *zap.Logger, msg string, p *wsProxy) {
	if ce := log.Check(zap.DebugLevel, msg); ce != nil {
		ce.Write(zap.String("app", p.slot.app), zap.String("color", p.slot.cname))
	}
}
