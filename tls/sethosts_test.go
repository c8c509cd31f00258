package edgetls_test

import (
	"slices"
	"testing"

	edgetls "github.com/edge-server/edge/tls"
	"github.com/edge-server/edge/tls/pebbletest"
)

// TestSetHostsAddsAndRemovesNames is what a config reload does: a new name gets a
// certificate without a restart, a removed name stops being served, a bad list changes
// nothing.
func TestSetHostsAddsAndRemovesNames(t *testing.T) {
	t.Parallel()
	lns := newListeners(t)
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: port(lns.http), TLSPort: port(lns.https), Quiet: true})
	const first, second = "first.sethosts.test", "second.sethosts.test"
	log, _ := testLogger(t)
	m := startManager(t, baseConfig(t, p, lns, first), lns, log)
	waitHTTPS(t, addrOf(lns.https), first, p.IssuerRoots())

	if err := m.SetHosts([]string{first, "bad name!"}); err == nil {
		t.Fatal("SetHosts accepted a bad name")
	}
	if _, err := handshake(addrOf(lns.https), second, nil, p.IssuerRoots()); err == nil {
		t.Fatal("second name served before it was added")
	}
	if err := m.SetHosts([]string{first, second}); err != nil {
		t.Fatal(err)
	}
	waitHTTPS(t, addrOf(lns.https), second, p.IssuerRoots())
	if got := p.OrderedNames(); !slices.Equal(got, []string{first, second}) {
		t.Errorf("ordered names = %v, want one order each", got)
	}

	if err := m.SetHosts([]string{second}); err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(addrOf(lns.https), first, nil, p.IssuerRoots()); err == nil {
		t.Error("removed name is still served")
	}
	var names []string
	for _, st := range m.Status() {
		names = append(names, st.Name)
		if st.State != edgetls.StateValid {
			t.Errorf("status %+v, want valid", st)
		}
	}
	if !slices.Equal(names, []string{second}) {
		t.Errorf("status names = %v, want [%s]", names, second)
	}
}
