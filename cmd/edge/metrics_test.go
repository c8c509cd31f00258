package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/edge-server/edge/internal/config"
	"github.com/edge-server/edge/proxy"
)

// startMetrics serves m on a loopback port and returns a scrape function.
func startMetrics(t *testing.T, m *promMetrics) func() string {
	t.Helper()
	srv := newMetricsServer("127.0.0.1:0", m.registry(), zap.NewNop())
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	url := "http://" + srv.Addr() + "/metrics"
	return func() string {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("scraping %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("scrape: HTTP %d\n%s", resp.StatusCode, b)
		}
		return string(b)
	}
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)

// sample returns the value of the series name{labels} (labels as k="v",… in any order).
func sample(body, name string, labels ...string) (float64, bool) {
	want := append([]string(nil), labels...)
	sort.Strings(want)
	for _, line := range strings.Split(body, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			continue
		}
		var got []string
		if m[2] != "" {
			got = strings.Split(m[2], ",")
		}
		sort.Strings(got)
		if strings.Join(got, ",") == strings.Join(want, ",") {
			v, err := strconv.ParseFloat(m[3], 64)
			return v, err == nil
		}
	}
	return 0, false
}

func mustSample(t *testing.T, body, name string, labels ...string) float64 {
	t.Helper()
	v, ok := sample(body, name, labels...)
	if !ok {
		t.Fatalf("no series %s{%s} in the scrape", name, strings.Join(labels, ","))
	}
	return v
}

func metricsTestConfig() *config.Config {
	cfg := config.Default("test.yaml")
	cfg.Proxy.Apps = []proxy.AppConfig{{Name: "web", Blue: []string{"127.0.0.1:1"}, Green: []string{"127.0.0.1:2"}}}
	cfg.Proxy.Sites = []proxy.SiteConfig{{Hosts: []string{"chat.example.com", "www.example.com"}}}
	return cfg
}

func TestMetricsMoveAfterTraffic(t *testing.T) {
	m := newPromMetrics()
	m.configure(metricsTestConfig())
	scrape := startMetrics(t, m)

	before := scrape()
	if _, ok := sample(before, "edge_http_requests_total", `site="chat.example.com"`, `app="web"`, `color="blue"`, `code="200"`); ok {
		t.Fatal("a request counter exists before any request")
	}
	for _, name := range []string{"go_goroutines", "process_open_fds", "process_start_time_seconds", "edge_build_info"} {
		if !strings.Contains(before, "\n"+name) {
			t.Errorf("scrape lacks %s", name)
		}
	}
	if v := mustSample(t, before, "edge_inflight_requests", `app="web"`, `color="green"`); v != 0 {
		t.Errorf("in-flight before traffic = %v", v)
	}

	for i := 0; i < 3; i++ {
		m.RequestDone("chat.example.com", "web", "blue", 200, 30*time.Millisecond)
	}
	m.RequestDone("chat.example.com", "web", "blue", 503, 2*time.Second)
	m.RequestDone("www.example.com", "", "", 404, time.Millisecond)
	m.UpstreamHealth("web", "blue", true)
	m.UpstreamHealth("web", "green", false)
	m.ActiveColor("web", "green")
	m.Switch("web", "blue", "green", true)
	m.Switch("web", "green", "blue", false)
	m.InFlight("web", "blue", 1)
	m.InFlight("web", "blue", 1)
	m.InFlight("web", "blue", -1)
	m.ChatConnections(5)
	m.ChatConnections(-2)
	m.ChatRooms(4)
	m.ChatMessages(7)
	m.ChatBatch(7, 3*time.Millisecond)
	m.CertExpiry("chat.example.com", time.Now().Add(30*24*time.Hour))
	m.ConfigReload(true)
	m.ConfigReload(false)

	after := scrape()
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"edge_http_requests_total", []string{`site="chat.example.com"`, `app="web"`, `color="blue"`, `code="200"`}, 3},
		{"edge_http_requests_total", []string{`site="chat.example.com"`, `app="web"`, `color="blue"`, `code="503"`}, 1},
		{"edge_http_requests_total", []string{`site="www.example.com"`, `app=""`, `color=""`, `code="404"`}, 1},
		{"edge_http_request_duration_seconds_count", []string{`site="chat.example.com"`, `app="web"`, `color="blue"`}, 4},
		{"edge_http_request_duration_seconds_bucket", []string{`site="chat.example.com"`, `app="web"`, `color="blue"`, `le="0.05"`}, 3},
		{"edge_upstream_healthy", []string{`app="web"`, `color="blue"`}, 1},
		{"edge_upstream_healthy", []string{`app="web"`, `color="green"`}, 0},
		{"edge_active_color", []string{`app="web"`, `color="green"`}, 1},
		{"edge_active_color", []string{`app="web"`, `color="blue"`}, 0},
		{"edge_switches_total", []string{`app="web"`, `result="ok"`}, 1},
		{"edge_switches_total", []string{`app="web"`, `result="failed"`}, 1},
		{"edge_inflight_requests", []string{`app="web"`, `color="blue"`}, 1},
		{"edge_chat_connections", nil, 3},
		{"edge_chat_rooms", nil, 4},
		{"edge_chat_messages_total", nil, 7},
		{"edge_chat_batch_seconds_count", nil, 1},
		{"edge_chat_batch_size_sum", nil, 7},
		{"edge_config_reloads_total", []string{`result="ok"`}, 1},
		{"edge_config_reloads_total", []string{`result="rejected"`}, 1},
	}
	for _, c := range checks {
		if got := mustSample(t, after, c.name, c.labels...); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, strings.Join(c.labels, ","), got, c.want)
		}
	}
	if d := mustSample(t, after, "edge_cert_expiry_days", `name="chat.example.com"`); d < 29.9 || d > 30 {
		t.Errorf("edge_cert_expiry_days = %v, want about 30", d)
	}
}

// TestMetricsLabelsStayBounded: hostile Host headers, odd status codes and unknown
// names must not create series.
func TestMetricsLabelsStayBounded(t *testing.T) {
	m := newPromMetrics()
	m.configure(metricsTestConfig())
	scrape := startMetrics(t, m)
	for i := 0; i < 2000; i++ {
		m.RequestDone(fmt.Sprintf("evil-%d.example.net", i), fmt.Sprintf("app%d", i), fmt.Sprintf("c%d", i), 100+i, time.Millisecond)
		m.InFlight(fmt.Sprintf("x%d", i), "blue", 0)
		m.CertExpiry(fmt.Sprintf("evil-%d.example.net", i), time.Now())
	}
	m.RequestDone("chat.example.com", "web", "blue", -5, time.Millisecond)
	m.RequestDone("chat.example.com", "web", "blue", 1<<30, time.Millisecond)
	body := scrape()
	// 31 exact codes, 5 classes and "other" for the hostile names, 1 for chat.example.com.
	if n := strings.Count(body, "\nedge_http_requests_total{"); n != 38 {
		t.Errorf("%d request series after 2000 hostile requests, want 38", n)
	}
	// 500–599 less the exact codes 500–504.
	if v := mustSample(t, body, "edge_http_requests_total", `site="other"`, `app="other"`, `color="other"`, `code="5xx"`); v != 95 {
		t.Errorf("5xx from unknown names = %v, want 95", v)
	}
	if v := mustSample(t, body, "edge_http_requests_total", `site="chat.example.com"`, `app="web"`, `color="blue"`, `code="other"`); v != 2 {
		t.Errorf("impossible status codes = %v, want 2", v)
	}
	if n := strings.Count(body, "\nedge_cert_expiry_days{"); n != 1 {
		t.Errorf("%d certificate series, want 1 (other)", n)
	}
}

func TestMetricsForgetRemovedApps(t *testing.T) {
	m := newPromMetrics()
	cfg := metricsTestConfig()
	cfg.Proxy.Apps = append(cfg.Proxy.Apps, proxy.AppConfig{Name: "api", Blue: []string{"127.0.0.1:3"}, Green: []string{"127.0.0.1:4"}})
	m.configure(cfg)
	scrape := startMetrics(t, m)
	m.ActiveColor("api", "blue")
	m.InFlight("api", "blue", 2)
	mustSample(t, scrape(), "edge_active_color", `app="api"`, `color="blue"`)
	m.configure(metricsTestConfig())
	body := scrape()
	if _, ok := sample(body, "edge_active_color", `app="api"`, `color="blue"`); ok {
		t.Error("edge_active_color of a removed app is still exported")
	}
	m.InFlight("api", "blue", -2) // a request that outlived the reload
	if _, ok := sample(scrape(), "edge_inflight_requests", `app="api"`, `color="blue"`); ok {
		t.Error("a removed app came back through InFlight")
	}
}

func TestMetricsServerRefusesATakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := newMetricsServer(ln.Addr().String(), newPromMetrics().registry(), zap.NewNop())
	if err := srv.Start(); err == nil || !strings.Contains(err.Error(), "metrics: listening on") {
		t.Fatalf("Start on a taken port: %v", err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown of a server that never started: %v", err)
	}
}

func TestMetricsServerOnlyServesMetrics(t *testing.T) {
	m := newPromMetrics()
	scrape := startMetrics(t, m)
	_ = scrape()
	srv := newMetricsServer("127.0.0.1:0", m.registry(), zap.NewNop())
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	for _, tc := range []struct {
		method, path string
		code         int
	}{{"GET", "/", 200}, {"GET", "/nope", 404}, {"POST", "/metrics", 405}, {"GET", "/metrics?x=" + strings.Repeat("a", 8000), 200}} {
		req, _ := http.NewRequest(tc.method, "http://"+srv.Addr()+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s %.30s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.code)
		}
	}
	// Oversized headers are refused, not buffered.
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: x\r\nX: %s\r\n\r\n", strings.Repeat("a", 1<<20))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, _ := io.ReadAll(io.LimitReader(c, 64))
	if !strings.Contains(string(line), "431") {
		t.Errorf("1 MiB header answered %q", line)
	}
}

func BenchmarkRequestDone(b *testing.B) {
	m := newPromMetrics()
	m.configure(metricsTestConfig())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.RequestDone("chat.example.com", "web", "blue", 200, time.Millisecond)
			m.InFlight("web", "blue", 1)
			m.InFlight("web", "blue", -1)
		}
	})
}

// TestDaemonServesMetrics: the daemon's own service list holds the metrics endpoint on
// cfg.Metrics, and none when metrics is "".
func TestDaemonServesMetrics(t *testing.T) {
	cfg := metricsTestConfig()
	cfg.Metrics = "127.0.0.1:0"
	d, err := newOpsDaemon(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	svcs := d.services()
	if len(svcs) != 1 || svcs[0].Name() != "metrics" {
		t.Fatalf("daemon services: %v", svcs)
	}
	if err := svcs[0].Start(); err != nil {
		t.Fatal(err)
	}
	defer svcs[0].Shutdown(context.Background())
	d.metrics.RequestDone("www.example.com", "web", "green", 201, time.Millisecond)
	resp, err := http.Get("http://" + svcs[0].(*metricsServer).Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if v := mustSample(t, string(body), "edge_http_requests_total", `site="www.example.com"`, `app="web"`, `color="green"`, `code="201"`); v != 1 {
		t.Errorf("requests = %v", v)
	}
	cfg.Metrics = ""
	if d, err = newOpsDaemon(cfg, zap.NewNop()); err != nil || len(d.services()) != 0 {
		t.Errorf("metrics disabled: services %v, err %v", d.services(), err)
	}
}

// TestMetricsProxyAdapterAndCertPolling: the proxy.Metrics method names move the same
// series, and a poll registered with every feeds certificate dates in.
func TestMetricsProxyAdapterAndCertPolling(t *testing.T) {
	m := newPromMetrics()
	m.configure(metricsTestConfig())
	scrape := startMetrics(t, m)
	m.Switched("web", "blue", "green", true)
	m.Switched("web", "green", "blue", false)
	m.HealthChanged("web", "green", true)
	m.Connections(3)
	m.Connections(-1)
	m.BatchCommitted(4, 2*time.Millisecond)
	m.ChatSendsFailed("rate_limited", 2)
	m.ChatSendsFailed("<script>", 1)
	m.SlowConsumer()
	cfg := metricsTestConfig()
	d, err := newOpsDaemon(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	d.metrics = m
	polls := make(chan struct{}, 100)
	d.every(10*time.Millisecond, func() {
		m.CertExpiry("www.example.com", time.Now().Add(10*24*time.Hour))
		polls <- struct{}{}
	})
	ctx, cancel := context.WithCancel(context.Background())
	d.ready(ctx)
	<-polls
	<-polls // it keeps running
	cancel()
	body := scrape()
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"edge_switches_total", []string{`app="web"`, `result="ok"`}, 1},
		{"edge_switches_total", []string{`app="web"`, `result="failed"`}, 1},
		{"edge_active_color", []string{`app="web"`, `color="green"`}, 1},
		{"edge_active_color", []string{`app="web"`, `color="blue"`}, 0},
		{"edge_upstream_healthy", []string{`app="web"`, `color="green"`}, 1},
		{"edge_chat_connections", nil, 2},
		{"edge_chat_messages_total", nil, 4},
		{"edge_chat_batch_size_sum", nil, 4},
		{"edge_chat_send_errors_total", []string{`code="rate_limited"`}, 2},
		{"edge_chat_send_errors_total", []string{`code="other"`}, 1},
		{"edge_chat_slow_consumers_total", nil, 1},
	} {
		if got := mustSample(t, body, c.name, c.labels...); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, strings.Join(c.labels, ","), got, c.want)
		}
	}
	if d := mustSample(t, body, "edge_cert_expiry_days", `name="www.example.com"`); d < 9.9 || d > 10 {
		t.Errorf("edge_cert_expiry_days = %v", d)
	}
}
