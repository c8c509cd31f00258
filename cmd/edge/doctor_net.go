package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// checkDNS resolves every site host; with --expect-ip each must resolve to that address.
func (d *doctor) checkDNS(ctx context.Context) {
	seen := map[string]bool{}
	for _, s := range d.cfg.Proxy.Sites {
		for _, h := range s.Hosts {
			if seen[h] {
				continue
			}
			seen[h] = true
			d.checkHost(ctx, h)
		}
	}
}

func (d *doctor) checkHost(ctx context.Context, host string) {
	name, shown := host, host
	if base, ok := strings.CutPrefix(host, "*."); ok {
		name = "edge-doctor-probe." + base // any name under the wildcard
		shown = host + " (probed as " + name + ")"
	}
	target := "this server's public IP"
	if d.expectIP.IsValid() {
		target = d.expectIP.String()
	}
	cctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	addrs, err := d.resolver.LookupHost(cctx, name)
	if err != nil || len(addrs) == 0 {
		why := "no addresses"
		if err != nil {
			why = err.Error()
		}
		d.fail(fmt.Sprintf("DNS %s does not resolve: %s", shown, why),
			fmt.Sprintf("create an A record %s → %s (Route53: hosted zone → Create record, type A); then wait for it to show up", host, target))
		return
	}
	sort.Strings(addrs)
	if d.expectIP.IsValid() {
		found := false
		for _, a := range addrs {
			if ip, err := netip.ParseAddr(a); err == nil && ip.Unmap() == d.expectIP {
				found = true
			}
		}
		if !found {
			d.fail(fmt.Sprintf("DNS %s resolves to %s, not %s", shown, strings.Join(addrs, ", "), d.expectIP),
				fmt.Sprintf("point the A record of %s at %s (and remove other A/AAAA records); old answers last until their TTL runs out", host, d.expectIP))
			return
		}
	}
	d.pass(fmt.Sprintf("DNS %s resolves to %s", shown, strings.Join(addrs, ", ")))
}

// checkUpstreams requests each app's health path on both colors. The active color must
// be healthy; the idle one being down is normal between deploys and only noted. When
// edge is not running the active color is unknown and at least one must be healthy.
func (d *doctor) checkUpstreams(ctx context.Context) {
	for _, a := range d.cfg.Proxy.Apps {
		active, known := d.active[a.Name]
		type replica struct{ color, addr string }
		var replicas []replica
		for _, addr := range a.Blue {
			replicas = append(replicas, replica{"blue", addr})
		}
		for _, addr := range a.Green {
			replicas = append(replicas, replica{"green", addr})
		}
		results := map[replica]error{}
		healthy := map[string]bool{}
		for _, c := range replicas {
			results[c] = d.probe(ctx, c.addr, a.Health.Path, a.Health.Timeout)
			if results[c] == nil {
				healthy[c.color] = true
			}
		}
		anyHealthy := len(healthy) > 0
		for _, c := range replicas {
			what := fmt.Sprintf("app %s %s (%s)", a.Name, c.color, c.addr)
			role := ""
			if known {
				role = " [idle]"
				if c.color == active {
					role = " [active]"
				}
			}
			err := results[c]
			switch {
			case err == nil:
				d.pass(fmt.Sprintf("%s%s answers GET %s", what, role, a.Health.Path))
			case known && c.color != active, !known && anyHealthy:
				d.note(fmt.Sprintf("%s%s is not healthy (%v); fine while idle, start it before `edge switch %s`", what, role, err, c.color))
			default:
				d.fail(fmt.Sprintf("%s%s is not healthy: %v", what, role, err),
					fmt.Sprintf("start the app on %s and make GET %s answer 2xx/3xx (journalctl for the app's service)", c.addr, a.Health.Path))
			}
		}
	}
}

// probe does one health check like the proxy does: GET, 2xx or 3xx passes, redirects
// are not followed, the body is not read beyond a little.
func (d *doctor) probe(ctx context.Context, addr, path string, timeout time.Duration) error {
	timeout = max(timeout, d.timeout)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, "GET", "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "edge-doctor")
	client := &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return trimURLError(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s answered %d", path, resp.StatusCode)
	}
	return nil
}

// trimURLError drops Go's `Get "http://…":` prefix; the line already names the address.
func trimURLError(err error) error {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s, "dial tcp") {
		return fmt.Errorf("%s", s[i+2:])
	}
	if strings.Contains(s, "Client.Timeout") || strings.Contains(s, "deadline exceeded") {
		return fmt.Errorf("no answer within the timeout")
	}
	return err
}
