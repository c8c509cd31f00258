package proxy

import (
	"bytes"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Error is a client-facing error: a stable code for programs, an HTTP status for
// the admin API and one plain sentence for people.
type Error struct {
	Code   string
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// Error codes of the admin API and of Switch/Rollback.
const (
	CodeBadRequest        = "bad_request"
	CodeUnknownApp        = "unknown_app"
	CodeUnhealthy         = "unhealthy"
	CodeNoPrevious        = "no_previous"
	CodeStateWrite        = "state_write_failed"
	CodeReloadUnavailable = "reload_unavailable"
	CodeReloadFailed      = "reload_failed"
	CodeShuttingDown      = "shutting_down"
	CodeBusy              = "switch_in_progress"
	CodeCanaryFailed      = "canary_failed" // an automatic canary was rolled back
	CodeNotFound          = "not_found"
	CodeMethodNotAllowed  = "method_not_allowed"
)

func errorf(code string, status int, msg string) *Error {
	return &Error{Code: code, Status: status, Msg: msg}
}

// pageText is what each status says to a visitor.
func pageText(status int) (title, detail string) {
	switch status {
	case fasthttp.StatusNotFound:
		return "Not Found", "There is nothing at this address."
	case fasthttp.StatusBadGateway:
		return "Bad Gateway", "The application behind this site did not answer. Try again in a moment."
	case fasthttp.StatusGatewayTimeout:
		return "Gateway Timeout", "The application behind this site took too long to answer."
	case fasthttp.StatusRequestHeaderFieldsTooLarge:
		return "Request Header Fields Too Large", "The request headers are larger than this server accepts."
	case fasthttp.StatusRequestEntityTooLarge:
		return "Content Too Large", "The request body is larger than this server accepts."
	case fasthttp.StatusRequestTimeout:
		return "Request Timeout", "The request took too long to arrive."
	case fasthttp.StatusBadRequest:
		return "Bad Request", "The request could not be understood."
	case fasthttp.StatusForbidden:
		return "Forbidden", "Your address may not use this part of the site."
	case fasthttp.StatusUnauthorized:
		return "Unauthorized", "This part of the site needs a user name and password."
	case fasthttp.StatusTooManyRequests:
		return "Too Many Requests", "Slow down: try again after the time in Retry-After."
	case fasthttp.StatusServiceUnavailable:
		return "Service Unavailable", "The server is shutting down or overloaded. Try again in a moment."
	}
	return fasthttp.StatusMessage(status), ""
}

// wantsJSON reports whether the client prefers JSON: it asked for JSON and not HTML.
func wantsJSON(accept []byte) bool {
	return bytes.Contains(accept, []byte("json")) && !bytes.Contains(accept, []byte("text/html"))
}

// writeErrorPage answers with a small HTML or JSON page. reqID must be a sane id
// (saneRequestID), so it needs no escaping.
func writeErrorPage(ctx *fasthttp.RequestCtx, status int, reqID []byte) {
	title, detail := pageText(status)
	r := &ctx.Response
	r.ResetBody()
	r.SetStatusCode(status)
	r.Header.Set("Cache-Control", "no-store")
	if len(reqID) > 0 {
		r.Header.SetBytesV(hdrRequestID, reqID)
	}
	if wantsJSON(ctx.Request.Header.Peek(fasthttp.HeaderAccept)) {
		r.Header.SetContentType("application/json")
		b := append(make([]byte, 0, 256), `{"error":`...)
		b = strconv.AppendQuote(b, title)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, `,"message":`...)
		b = strconv.AppendQuote(b, detail)
		b = append(b, `,"request_id":`...)
		b = strconv.AppendQuote(b, string(reqID))
		b = append(b, "}\n"...)
		r.SetBodyRaw(b)
		return
	}
	r.Header.SetContentType("text/html; charset=utf-8")
	code := strconv.Itoa(status)
	b := make([]byte, 0, 512)
	b = append(b, `<!doctype html><html><head><meta charset="utf-8"><title>`...)
	b = append(b, code+" "+title...)
	b = append(b, `</title><style>body{font:16px system-ui,sans-serif;margin:4em auto;max-width:36em;color:#222}small{color:#777}</style></head><body><h1>`...)
	b = append(b, code+" "+title...)
	b = append(b, "</h1><p>"...)
	b = append(b, detail...)
	b = append(b, "</p><p><small>request id "...)
	b = append(b, reqID...)
	b = append(b, "</small></p></body></html>\n"...)
	r.SetBodyRaw(b)
}
