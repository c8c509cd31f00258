package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestGrafanaDashboardUsesExportedMetrics keeps docs/grafana-dashboard.json in step with
// promMetrics: every metric a panel queries must exist, and every edge_* metric should
// be on the dashboard.
func TestGrafanaDashboardUsesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	m := newPromMetrics()
	m.configure(metricsTestConfig())
	m.RequestDone("www.example.com", "web", "blue", 200, time.Millisecond)
	m.UpstreamHealth("web", "blue", true)
	m.ActiveColor("web", "blue")
	m.Switch("web", "blue", "green", true)
	m.InFlight("web", "blue", 1)
	m.ChatConnections(1)
	m.ChatRooms(1)
	m.ChatMessages(1)
	m.ChatBatch(1, time.Millisecond)
	m.CertExpiry("www.example.com", time.Now().Add(time.Hour))
	m.ChatSendsFailed("rate_limited", 1)
	m.SlowConsumer()
	families, err := m.registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range families {
		exported[f.GetName()] = true
	}
	used := map[string]bool{}
	name := regexp.MustCompile(`\b(edge|go|process)_[a-z_]+\b`)
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range name.FindAllString(tg.Expr, -1) {
				base := n
				for _, suf := range []string{"_bucket", "_count", "_sum"} {
					if s, ok := strings.CutSuffix(n, suf); ok && exported[s] {
						base = s
					}
				}
				if !exported[base] {
					t.Errorf("panel %q queries %s, which edge does not export", p.Title, n)
				}
				used[base] = true
			}
		}
	}
	for n := range exported {
		if strings.HasPrefix(n, "edge_") && !used[n] {
			t.Errorf("metric %s is not on the dashboard", n)
		}
	}
}
