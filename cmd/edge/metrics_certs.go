package main

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// certExpiryCollector exports edge_cert_expiry_days{name}, computed at scrape time from
// each certificate's NotAfter, so the value keeps falling between renewals instead of
// freezing at whatever it was when the certificate was loaded.
type certExpiryCollector struct {
	desc *prometheus.Desc
	now  func() time.Time

	mu       sync.Mutex
	notAfter map[string]time.Time
}

func newCertExpiryCollector() *certExpiryCollector {
	return &certExpiryCollector{
		desc: prometheus.NewDesc("edge_cert_expiry_days",
			"Days until the certificate for a host expires (negative: expired).", []string{"name"}, nil),
		now:      time.Now,
		notAfter: map[string]time.Time{},
	}
}

func (c *certExpiryCollector) set(name string, notAfter time.Time) {
	c.mu.Lock()
	c.notAfter[name] = notAfter
	c.mu.Unlock()
}

// keep drops certificates of hosts no longer configured.
func (c *certExpiryCollector) keep(names map[string]bool) {
	c.mu.Lock()
	for n := range c.notAfter {
		if !names[n] {
			delete(c.notAfter, n)
		}
	}
	c.mu.Unlock()
}

func (c *certExpiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certExpiryCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, na := range c.notAfter {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, na.Sub(now).Hours()/24, name)
	}
}
