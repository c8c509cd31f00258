package edgetls_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/edge-server/edge/internal/pgtest"
	edgetls "github.com/edge-server/edge/tls"
	"github.com/edge-server/edge/tls/pebbletest"
)

// fleetInstance is one Manager of a fleet: its own listeners, state dir, pool and
// storage, one shared database.
type fleetInstance struct {
	lns listeners
	m   *edgetls.Manager
}

func startFleetInstance(t *testing.T, p *pebbletest.Pebble, dbURL, holder string, hosts ...string) fleetInstance {
	t.Helper()
	lns := newListeners(t)
	cfg := baseConfig(t, p, lns, hosts...)
	// pebble validates on its relay ports, which point at one instance only: the
	// others' listeners are never contacted, as behind a DNS record the CA picks one.
	cfg.HTTPPort, cfg.HTTPSPort = port(lns.http), port(lns.https)
	cfg.Storage = newPGStorage(t, dbURL, holder, 0)
	log, _ := testLogger(t)
	return fleetInstance{lns: lns, m: startManager(t, cfg, lns, log)}
}

// TestFleetOrdersEachNameOnce: three Managers on one Postgres, started together, make
// exactly one order per name and serve the same certificate. A fourth Manager with an
// empty memory and an empty state dir (an instance rebuilt or restarted) loads the
// certificate from Postgres and orders nothing.
func TestFleetOrdersEachNameOnce(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	p := pebbletest.Start(t, pebbletest.Options{Quiet: true})
	names := []string{"a.fleet.edge.test", "b.fleet.edge.test"}

	fleet := make([]fleetInstance, 3)
	for i := range fleet {
		fleet[i] = startFleetInstance(t, p, db.URL, []string{"one", "two", "three"}[i], names...)
		if i == 1 {
			// The CA reaches instance two, whichever instance holds the order's lock.
			p.Forward(addrOf(fleet[i].lns.http), addrOf(fleet[i].lns.https))
		}
	}
	serials := map[string]string{}
	for _, name := range names {
		for i, in := range fleet {
			_, cs := waitHTTPS(t, addrOf(in.lns.https), name, p.IssuerRoots())
			leaf, err := leafOf(cs)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				serials[name] = leaf.SerialNumber.String()
			} else if got := leaf.SerialNumber.String(); got != serials[name] {
				t.Errorf("instance %d serves %s with serial %s, instance 0 with %s", i, name, got, serials[name])
			}
		}
	}
	ordered := p.OrderedNames()
	slices.Sort(ordered)
	if !slices.Equal(ordered, names) || p.Orders() != len(names) {
		t.Fatalf("orders = %d for %v, want exactly one per name %v", p.Orders(), ordered, names)
	}

	// Instance three goes away (its memory with it) and comes back with a fresh state
	// dir: everything comes from Postgres.
	shutdown(t, fleet[2].m)
	again := startFleetInstance(t, p, db.URL, "three-again", names...)
	for _, name := range names {
		_, cs := waitHTTPS(t, addrOf(again.lns.https), name, p.IssuerRoots())
		leaf, _ := leafOf(cs)
		if leaf == nil || leaf.SerialNumber.String() != serials[name] {
			t.Errorf("restarted instance serves another certificate for %s", name)
		}
	}
	if p.Orders() != len(names) {
		t.Errorf("restarting an instance made %d new orders", p.Orders()-len(names))
	}
	for _, in := range []fleetInstance{fleet[0], again} {
		for _, name := range names {
			if st := statusOf(in.m, name); st.State != edgetls.StateValid {
				t.Errorf("status of %s = %+v, want valid", name, st)
			}
		}
	}
}

// TestFleetRenewsOnce: a fleet finds a certificate in Postgres that is due for
// renewal (pebble issues 30-minute certificates; certmagic renews those at once).
// The three instances starting together renew it exactly once (the others wait on
// the lock and find it renewed). An instance that (re)loads then serves the renewed
// certificate; running instances pick it up at certmagic's next maintenance check
// (every 10 minutes), serving the old, still valid one until then.
func TestFleetRenewsOnce(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	p := pebbletest.Start(t, pebbletest.Options{CertValidity: 30 * time.Minute, Quiet: true})
	const name = "renew.fleet.edge.test"
	first := startFleetInstance(t, p, db.URL, "first", name)
	p.Forward(addrOf(first.lns.http), addrOf(first.lns.https))
	_, cs := waitHTTPS(t, addrOf(first.lns.https), name, p.IssuerRoots())
	old, _ := leafOf(cs)
	shutdown(t, first.m)
	if p.Orders() != 1 {
		t.Fatalf("orders after the first issuance = %d", p.Orders())
	}

	fleet := make([]fleetInstance, 3)
	for i := range fleet {
		fleet[i] = startFleetInstance(t, p, db.URL, fmt.Sprintf("renewer-%d", i), name)
		if i == 0 {
			p.Forward(addrOf(fleet[i].lns.http), addrOf(fleet[i].lns.https))
		}
	}
	renewed := func(in fleetInstance) (string, bool) {
		_, cs, err := httpsGet(addrOf(in.lns.https), name, p.IssuerRoots())
		if err != nil {
			return "", false
		}
		leaf, _ := leafOf(cs)
		return leaf.SerialNumber.String(), leaf.SerialNumber.Cmp(old.SerialNumber) != 0
	}
	var serial string
	waitFor(t, "an instance to serve a renewed certificate", issueTimeout, func() bool {
		for _, in := range fleet {
			if s, ok := renewed(in); ok {
				serial = s
				return true
			}
		}
		return false
	})
	time.Sleep(2 * time.Second) // any second renewal would have been ordered by now
	if got := p.Orders(); got != 2 {
		t.Errorf("orders = %d, want 2 (one issuance, one renewal for the fleet)", got)
	}
	again := startFleetInstance(t, p, db.URL, "reloaded", name)
	waitFor(t, "a restarted instance to serve the renewed certificate", issueTimeout, func() bool {
		s, ok := renewed(again)
		return ok && s == serial
	})
	if got := p.Orders(); got != 2 {
		t.Errorf("orders after a restart = %d, want still 2", got)
	}
}
