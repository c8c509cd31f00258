package main

import "github.com/prometheus/client_golang/prometheus"

// trafficGauges show the operator's traffic controls per app: a running canary's
// weight, pause and maintenance. Requests and errors by color are in
// edge_http_requests_total{color}, which is how a canary's error rate is compared.
type trafficGauges struct {
	weight, paused, maintenance *prometheus.GaugeVec
}

func newTrafficGauges(reg *prometheus.Registry) *trafficGauges {
	g := &trafficGauges{
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "edge_canary_weight_percent",
			Help: "Percentage of visitors a running canary sends to the color that is not live; 0 when none runs."}, []string{"app"}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "edge_app_paused",
			Help: "1 while the app is paused (new requests are held), else 0."}, []string{"app"}),
		maintenance: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "edge_app_maintenance",
			Help: "1 while the app is in maintenance (requests get 503), else 0."}, []string{"app"}),
	}
	reg.MustRegister(g.weight, g.paused, g.maintenance)
	return g
}

func (g *trafficGauges) vecs() []*prometheus.GaugeVec {
	return []*prometheus.GaugeVec{g.weight, g.paused, g.maintenance}
}

// TrafficState records an app's canary weight, pause and maintenance (proxy.Metrics).
func (m *promMetrics) TrafficState(app string, weight int, paused, maintenance bool) {
	a := m.app(app)
	m.traffic.weight.WithLabelValues(a).Set(float64(weight))
	m.traffic.paused.WithLabelValues(a).Set(b2f(paused))
	m.traffic.maintenance.WithLabelValues(a).Set(b2f(maintenance))
}
