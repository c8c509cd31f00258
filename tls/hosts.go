package edgetls

import (
	"fmt"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// hostList is the set of managed names. It is replaced whole (atomically) by SetHosts
// and read without locks during handshakes.
type hostList struct {
	names []string            // lowercase, deduplicated, in the given order
	set   map[string]struct{} // same names, for lookups during handshakes
}

func newHostList(hosts []string) (*hostList, error) {
	l := &hostList{set: make(map[string]struct{}, len(hosts))}
	for _, h := range hosts {
		name, err := hostName(h)
		if err != nil {
			return nil, err
		}
		if _, dup := l.set[name]; dup {
			continue
		}
		l.set[name] = struct{}{}
		l.names = append(l.names, name)
	}
	return l, nil
}

// SetHosts replaces the managed names (config reload): new names are obtained in the
// background like at Start, removed names stop being served and renewed at once, names
// in both lists are untouched. Bad names are refused and nothing changes.
func (m *Manager) SetHosts(hosts []string) error {
	next, err := newHostList(hosts)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return errShutDown
	}
	prev := m.hosts.Load()
	var added, removed []string
	for _, n := range next.names {
		if _, ok := prev.set[n]; !ok {
			added = append(added, n)
		}
	}
	for _, n := range prev.names {
		if _, ok := next.set[n]; !ok {
			removed = append(removed, n)
		}
	}
	if len(added) == 0 && len(removed) == 0 {
		return nil
	}
	if m.started && len(added) > 0 && len(prev.names) == 0 {
		// Start skipped the listener check when there was nothing to manage.
		if err := m.checkChallengeListeners(); err != nil {
			return err
		}
	}
	m.book.add(added)
	m.hosts.Store(next) // handshakes for removed names fail from here on
	if len(removed) > 0 {
		subjects := make([]certmagic.SubjectIssuer, len(removed))
		for i, n := range removed {
			subjects[i] = certmagic.SubjectIssuer{Subject: n}
		}
		m.cache.RemoveManaged(subjects)
		m.book.remove(removed)
	}
	m.log.Info("managed hosts changed", zap.Strings("added", added), zap.Strings("removed", removed))
	if m.started && len(added) > 0 {
		if err := m.magic.ManageAsync(m.ctx, added); err != nil {
			return fmt.Errorf("starting certificate management for %v: %w", added, err)
		}
	}
	return nil
}
