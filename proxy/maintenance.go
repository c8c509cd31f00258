package proxy

import (
	"encoding/json"
	"html"

	"github.com/valyala/fasthttp"
)

const (
	// MaxMaintenanceMessage caps the maintenance message.
	MaxMaintenanceMessage = 1024
	// DefaultMaintenanceMessage is shown when maintenance is turned on without one.
	DefaultMaintenanceMessage = "This site is down for maintenance. Please try again shortly."
	// maintenanceRetryAfter is the Retry-After (seconds) of maintenance answers.
	maintenanceRetryAfter = "30"
)

// maintenancePage is the 503 answer of an app in maintenance, rendered once when
// maintenance is turned on, in both forms.
type maintenancePage struct {
	html, json []byte
}

func newMaintenancePage(msg string) *maintenancePage {
	if msg == "" {
		msg = DefaultMaintenanceMessage
	}
	m, _ := json.Marshal(msg)
	j := append([]byte(`{"error":"Service Unavailable","status":503,"code":"maintenance","message":`), m...)
	j = append(j, "}\n"...)
	h := `<!doctype html><html><head><meta charset="utf-8"><title>Down for maintenance</title>` +
		`<style>body{font:16px system-ui,sans-serif;margin:4em auto;max-width:36em;color:#222}</style></head>` +
		`<body><h1>Down for maintenance</h1><p>` + html.EscapeString(msg) + "</p></body></html>\n"
	return &maintenancePage{html: []byte(h), json: j}
}

// write answers 503 with the page the client's Accept prefers.
func (p *maintenancePage) write(ctx *fasthttp.RequestCtx, rid []byte) {
	r := &ctx.Response
	r.ResetBody()
	r.SetStatusCode(fasthttp.StatusServiceUnavailable)
	r.Header.Set("Cache-Control", "no-store")
	r.Header.Set(fasthttp.HeaderRetryAfter, maintenanceRetryAfter)
	if len(rid) > 0 {
		r.Header.SetBytesV(hdrRequestID, rid)
	}
	if wantsJSON(ctx.Request.Header.Peek(fasthttp.HeaderAccept)) {
		r.Header.SetContentType("application/json")
		r.SetBody(p.json)
		return
	}
	r.Header.SetContentType("text/html; charset=utf-8")
	r.SetBody(p.html)
}

// writePausedTooLong answers a request that was held longer than max_wait.
func writePausedTooLong(ctx *fasthttp.RequestCtx, rid []byte) {
	writeErrorPage(ctx, fasthttp.StatusServiceUnavailable, rid)
	ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, pauseRetryAfter)
}
