package proxy

import "time"

// Metrics receives what the proxy does. Implementations must be safe for concurrent
// use and cheap: RequestDone and InFlight run on every request. The label values are
// taken from the config (site = first host of the site, app = app name, color =
// "blue"/"green"); they are never built per request, so an implementation may use them
// as map keys. app and color are "" for static and local-handler routes, site is ""
// when no site matched.
type Metrics interface {
	// RequestDone is called once per request when its response header is ready.
	RequestDone(site, app, color string, status int, d time.Duration)
	// InFlight is called with +1 when a request to an upstream starts and -1 when its
	// response (body included) is finished.
	InFlight(app, color string, delta int)
	// ResponseCut is called when an upstream response could not be completed (the
	// upstream closed, reset or timed out mid-body): the client connection was closed
	// without completing the body, so the client sees a truncated response.
	ResponseCut(app, color string)
	// ClientCut is called when a streamed response could not be written to the client
	// (it went away or stopped reading past the write timeout): what nginx logs as 499.
	ClientCut(app, color string)
	// Switched is called after every switch attempt. ok is false when it was refused.
	Switched(app, from, to string, ok bool)
	// HealthChanged is called when a color becomes healthy or unhealthy: healthy
	// means every replica of the color passes its checks.
	HealthChanged(app, color string, healthy bool)
	// TrafficState is called when an app's canary weight, pause or maintenance is set.
	TrafficState(app string, weight int, paused, maintenance bool)
}

// NopMetrics discards everything; it is used when Config.Metrics is nil.
type NopMetrics struct{}

// RequestDone implements Metrics.
func (NopMetrics) RequestDone(site, app, color string, status int, d time.Duration) {}

// InFlight implements Metrics.
func (NopMetrics) InFlight(app, color string, delta int) {}

// ResponseCut implements Metrics.
func (NopMetrics) ResponseCut(app, color string) {}

// ClientCut implements Metrics.
func (NopMetrics) ClientCut(app, color string) {}

// Switched implements Metrics.
func (NopMetrics) Switched(app, from, to string, ok bool) {}

// HealthChanged implements Metrics.
func (NopMetrics) HealthChanged(app, color string, healthy bool) {}

// TrafficState implements Metrics.
func (NopMetrics) TrafficState(app string, weight int, paused, maintenance bool) {}
