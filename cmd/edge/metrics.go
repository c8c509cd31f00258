package main

import (
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/edge-server/edge/internal/config"
)

// promMetrics records what the packages report into Prometheus metrics. Its methods are
// what the proxy, chat and tls metrics interfaces call (cmd/edge adapts them); they are
// safe for concurrent use and RequestDone/InFlight do not allocate once a label set
// has been seen.
//
// Label values are bounded: site must be a configured host, app a configured app, color
// blue or green, and status codes outside a fixed set collapse into their class, so a
// hostile client cannot create series. Anything else is recorded as "other".
type promMetrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	upstreamHealthy *prometheus.GaugeVec
	activeColor     *prometheus.GaugeVec
	switches        *prometheus.CounterVec
	inflight        *prometheus.GaugeVec
	cuts            *prometheus.CounterVec
	clientCuts      *prometheus.CounterVec
	chatConns       prometheus.Gauge
	chatRooms       prometheus.Gauge
	chatMessages    prometheus.Counter
	chatBatch       prometheus.Histogram
	chatBatchSize   prometheus.Histogram
	chatSendErrors  *prometheus.CounterVec
	chatSlow        prometheus.Counter
	reloads         *prometheus.CounterVec
	lastReload      prometheus.Gauge
	certs           *certExpiryCollector
	traffic         *trafficGauges

	known atomic.Pointer[knownLabels]

	mu     sync.RWMutex
	series map[reqKey]reqSeries
	flight map[[2]string]prometheus.Gauge
}

type reqKey struct {
	site, app, color string
	code             int
}

type reqSeries struct {
	count prometheus.Counter
	dur   prometheus.Observer
}

// knownLabels are the label values the config allows; everything else is "other".
type knownLabels struct {
	sites map[string]bool
	apps  map[string]bool
}

const otherLabel = "other"

// latencyBuckets span a static file from memory (100 µs) to a slow upstream (30 s).
var latencyBuckets = []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

func newPromMetrics() *promMetrics {
	m := &promMetrics{
		reg:    prometheus.NewRegistry(),
		series: map[reqKey]reqSeries{},
		flight: map[[2]string]prometheus.Gauge{},
		certs:  newCertExpiryCollector(),
	}
	m.known.Store(&knownLabels{sites: map[string]bool{}, apps: map[string]bool{}})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edge_http_requests_total",
		Help: "HTTP requests answered, by site, app, upstream color and status code."}, []string{"site", "app", "color", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "edge_http_request_duration_seconds",
		Help: "Time from request read to response written.", Buckets: latencyBuckets}, []string{"site", "app", "color"})
	m.upstreamHealthy = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "edge_upstream_healthy",
		Help: "1 when every replica of the color passes its health checks, else 0."}, []string{"app", "color"})
	m.activeColor = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "edge_active_color",
		Help: "1 for the color that receives an app's traffic, 0 for the other."}, []string{"app", "color"})
	m.switches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edge_switches_total",
		Help: "Blue/green switches and rollbacks, by result (ok or failed)."}, []string{"app", "result"})
	m.inflight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "edge_inflight_requests",
		Help: "Requests being forwarded to an upstream right now."}, []string{"app", "color"})
	m.cuts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edge_upstream_responses_cut_total",
		Help: "Upstream responses that ended mid-body; the client connection was closed without completing them."}, []string{"app", "color"})
	m.clientCuts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edge_client_responses_cut_total",
		Help: "Streamed responses cut because the client went away or stopped reading (nginx's 499)."}, []string{"app", "color"})
	m.chatConns = prometheus.NewGauge(prometheus.GaugeOpts{Name: "edge_chat_connections", Help: "Open chat WebSocket connections."})
	m.chatRooms = prometheus.NewGauge(prometheus.GaugeOpts{Name: "edge_chat_rooms", Help: "Chat rooms with at least one member."})
	m.chatMessages = prometheus.NewCounter(prometheus.CounterOpts{Name: "edge_chat_messages_total", Help: "Chat messages committed to the store."})
	m.chatBatch = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "edge_chat_batch_seconds",
		Help: "Time to commit one batch of chat messages.", Buckets: latencyBuckets})
	m.chatBatchSize = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "edge_chat_batch_size",
		Help: "Messages per committed chat batch.", Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500}})
	m.chatSendErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edge_chat_send_errors_total",
		Help: "Chat sends answered with an error, by error code."}, []string{"code"})
	m.chatSlow = prometheus.NewCounter(prometheus.CounterOpts{Name: "edge_chat_slow_consumers_total",
		Help: "Chat connections closed because they did not read fast enough."})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edge_config_reloads_total",
		Help: "Config reloads (SIGHUP or edge reload), by result (ok or rejected)."}, []string{"result"})
	m.lastReload = prometheus.NewGauge(prometheus.GaugeOpts{Name: "edge_config_last_reload_success_timestamp_seconds",
		Help: "Unix time of the last config load that was applied (start or reload)."})
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "edge_build_info", Help: "Always 1; the version label says which edge runs.",
		ConstLabels: prometheus.Labels{"version": buildVersion()}})
	info.Set(1)
	m.reg.MustRegister(m.requests, m.duration, m.upstreamHealthy, m.activeColor, m.switches, m.inflight, m.cuts, m.clientCuts,
		m.chatConns, m.chatRooms, m.chatMessages, m.chatBatch, m.chatBatchSize, m.chatSendErrors, m.chatSlow, m.reloads, m.lastReload, m.certs, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.traffic = newTrafficGauges(m.reg)
	for _, r := range []string{"ok", "rejected"} {
		m.reloads.WithLabelValues(r)
	}
	return m
}

// registry is what the /metrics endpoint serves.
func (m *promMetrics) registry() *prometheus.Registry { return m.reg }

// configure sets which sites and apps are valid label values, drops series of apps and
// certificates no longer configured, and pre-creates per-app series so dashboards show
// zeros instead of gaps. Call it at start and after every applied reload.
func (m *promMetrics) configure(cfg *config.Config) {
	k := &knownLabels{sites: map[string]bool{}, apps: map[string]bool{}}
	for _, s := range cfg.Proxy.Sites {
		for _, h := range s.Hosts {
			k.sites[h] = true
		}
	}
	for _, a := range cfg.Proxy.Apps {
		k.apps[a.Name] = true
		for _, c := range []string{"blue", "green"} {
			m.inflight.WithLabelValues(a.Name, c)
			m.upstreamHealthy.WithLabelValues(a.Name, c)
		}
		for _, vec := range m.traffic.vecs() {
			vec.WithLabelValues(a.Name)
		}
		for _, r := range []string{"ok", "failed"} {
			m.switches.WithLabelValues(a.Name, r)
		}
	}
	old := m.known.Swap(k)
	m.mu.Lock() // cached children of deleted series must not be reused
	clear(m.series)
	clear(m.flight)
	m.mu.Unlock()
	for app := range old.apps {
		if !k.apps[app] {
			for _, vec := range append([]*prometheus.GaugeVec{m.inflight, m.upstreamHealthy, m.activeColor}, m.traffic.vecs()...) {
				vec.DeletePartialMatch(prometheus.Labels{"app": app})
			}
			m.switches.DeletePartialMatch(prometheus.Labels{"app": app})
		}
	}
	m.certs.keep(k.sites)
	m.lastReload.SetToCurrentTime()
}

func (m *promMetrics) site(s string) string {
	if s == "" || m.known.Load().sites[s] {
		return s
	}
	return otherLabel
}

func (m *promMetrics) app(a string) string {
	if a == "" || m.known.Load().apps[a] {
		return a
	}
	return otherLabel
}

func color(c string) string {
	if c == "" || c == "blue" || c == "green" {
		return c
	}
	return otherLabel
}

// RequestDone records one answered request. app and color are "" for routes that are
// not an app (static files, chat, redirects).
func (m *promMetrics) RequestDone(site, app, col string, status int, d time.Duration) {
	k := reqKey{m.site(site), m.app(app), color(col), status}
	if status < 0 || status >= len(codeLabels) {
		k.code = 0
	}
	m.mu.RLock()
	s, ok := m.series[k]
	m.mu.RUnlock()
	if !ok {
		s = m.newSeries(k)
	}
	s.count.Inc()
	s.dur.Observe(d.Seconds())
}

func (m *promMetrics) newSeries(k reqKey) reqSeries {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.series[k]; ok {
		return s
	}
	s := reqSeries{
		count: m.requests.WithLabelValues(k.site, k.app, k.color, codeLabels[k.code]),
		dur:   m.duration.WithLabelValues(k.site, k.app, k.color),
	}
	m.series[k] = s
	return s
}

// UpstreamHealth records the latest health verdict of one color.
func (m *promMetrics) UpstreamHealth(app, col string, healthy bool) {
	m.upstreamHealthy.WithLabelValues(m.app(app), color(col)).Set(b2f(healthy))
}

// ActiveColor records which color serves an app (the other color is set to 0).
func (m *promMetrics) ActiveColor(app, col string) {
	a := m.app(app)
	for _, c := range []string{"blue", "green"} {
		m.activeColor.WithLabelValues(a, c).Set(b2f(c == col))
	}
}

// Switch records a switch or rollback attempt from one color to another.
func (m *promMetrics) Switch(app, from, to string, ok bool) {
	_, _ = from, to // kept for the caller's log line; labels stay {app,result}
	result := "failed"
	if ok {
		result = "ok"
	}
	m.switches.WithLabelValues(m.app(app), result).Inc()
}

// Switched and HealthChanged are the proxy.Metrics names of Switch and UpstreamHealth,
// so *promMetrics can be the proxy's Config.Metrics as it is. A successful switch also
// moves edge_active_color.
func (m *promMetrics) Switched(app, from, to string, ok bool) {
	m.Switch(app, from, to, ok)
	if ok {
		m.ActiveColor(app, to)
	}
}

// HealthChanged records a color's new health verdict (proxy.Metrics).
func (m *promMetrics) HealthChanged(app, col string, healthy bool) {
	m.UpstreamHealth(app, col, healthy)
}

// ResponseCut counts an upstream response that ended mid-body (proxy.Metrics).
func (m *promMetrics) ResponseCut(app, col string) {
	m.cuts.WithLabelValues(m.app(app), color(col)).Inc()
}

// ClientCut counts a streamed response the client did not take (proxy.Metrics).
func (m *promMetrics) ClientCut(app, col string) {
	m.clientCuts.WithLabelValues(m.app(app), color(col)).Inc()
}

// InFlight adds delta (+1 when forwarding starts, -1 when it ends).
func (m *promMetrics) InFlight(app, col string, delta int) {
	key := [2]string{m.app(app), color(col)}
	m.mu.RLock()
	g, ok := m.flight[key]
	m.mu.RUnlock()
	if !ok {
		m.mu.Lock()
		if g, ok = m.flight[key]; !ok {
			g = m.inflight.WithLabelValues(key[0], key[1])
			m.flight[key] = g
		}
		m.mu.Unlock()
	}
	g.Add(float64(delta))
}

// ChatConnections adds delta to the open WebSocket count.
func (m *promMetrics) ChatConnections(delta int) { m.chatConns.Add(float64(delta)) }

// ChatRooms sets the number of rooms with members.
func (m *promMetrics) ChatRooms(n int) { m.chatRooms.Set(float64(n)) }

// ChatMessages counts n committed messages.
func (m *promMetrics) ChatMessages(n int) { m.chatMessages.Add(float64(max(n, 0))) }

// ChatBatch records one store write batch: its size and how long the commit took.
func (m *promMetrics) ChatBatch(size int, d time.Duration) {
	m.chatBatchSize.Observe(float64(size))
	m.chatBatch.Observe(d.Seconds())
}

// Connections and BatchCommitted are the chat.Metrics names of ChatConnections and
// ChatBatch (a committed batch also counts its messages).
func (m *promMetrics) Connections(delta int) { m.ChatConnections(delta) }

// BatchCommitted records one committed writer transaction (chat.Metrics).
func (m *promMetrics) BatchCommitted(messages int, took time.Duration) {
	m.ChatMessages(messages)
	m.ChatBatch(messages, took)
}

// ChatSendsFailed counts n sends answered with an error code. Codes come from the chat
// package's fixed set; anything not shaped like one is recorded as "other".
func (m *promMetrics) ChatSendsFailed(code string, n int) {
	if !chatCode.MatchString(code) {
		code = otherLabel
	}
	m.chatSendErrors.WithLabelValues(code).Add(float64(max(n, 0)))
}

// SlowConsumer counts a connection closed for not reading (chat.Metrics).
func (m *promMetrics) SlowConsumer() { m.chatSlow.Inc() }

var chatCode = regexp.MustCompile(`^[a-z_]{1,32}$`)

// CertExpiry records when a host's certificate expires; days left are computed at scrape.
func (m *promMetrics) CertExpiry(name string, notAfter time.Time) {
	if !m.known.Load().sites[name] {
		name = otherLabel
	}
	m.certs.set(name, notAfter)
}

// ConfigReload counts a reload; ok=false means the new config was rejected.
func (m *promMetrics) ConfigReload(ok bool) {
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
		return
	}
	m.reloads.WithLabelValues("rejected").Inc()
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// codeLabels maps a status code to its label: the code itself for the common ones,
// its class ("4xx") for the rest, "other" for impossible values. Precomputed, so
// recording a request never formats a number.
var codeLabels = func() [600]string {
	var l [600]string
	exact := []int{200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 408,
		409, 410, 413, 414, 415, 421, 429, 431, 499, 500, 501, 502, 503, 504}
	for i := range l {
		switch {
		case i < 100:
			l[i] = otherLabel
		default:
			l[i] = strconv.Itoa(i/100) + "xx"
		}
	}
	for _, c := range exact {
		l[c] = strconv.Itoa(c)
	}
	return l
}()
