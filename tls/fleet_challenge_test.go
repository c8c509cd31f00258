package edgetls_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/edge-server/edge/internal/pgtest"
	edgetls "github.com/edge-server/edge/tls"
	"github.com/edge-server/edge/tls/pebbletest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/valyala/fasthttp"
)

const (
	answerHelperEnv = "EDGE_TLS_ANSWER_HELPER" // db URL | CA URL | host
)

// answerHelper is the child process of TestFleetAnswersAnotherInstancesChallenge: a
// Manager that manages the name but never starts (so it never orders), serving only
// its plain-HTTP listener. It prints the listener's address and serves until killed.
func answerHelper() bool {
	spec := os.Getenv(answerHelperEnv)
	if spec == "" {
		return false
	}
	fail := func(err error) bool { fmt.Println("error:", err); os.Exit(1); return true }
	parts := strings.Split(spec, "|")
	pool, err := pgxpool.New(context.Background(), parts[0])
	if err != nil {
		return fail(err)
	}
	st, err := edgetls.NewPostgresStorage(context.Background(), edgetls.PostgresStorageConfig{Pool: pool, Holder: "child"}, nil)
	if err != nil {
		return fail(err)
	}
	dir, _ := os.MkdirTemp("", "edge-answer-")
	defer os.RemoveAll(dir)
	m, err := edgetls.New(edgetls.Config{
		Hosts: []string{parts[2]}, CA: parts[1], StorageDir: dir, Storage: st, DisableTLSALPNChallenge: true,
	}, nil)
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	fmt.Println(ln.Addr().String())
	_ = fasthttp.Serve(ln, func(ctx *fasthttp.RequestCtx) {
		if !m.HandleHTTPChallenge(ctx) {
			ctx.SetStatusCode(fasthttp.StatusNotFound)
		}
	})
	return true
}

// TestFleetAnswersAnotherInstancesChallenge: the CA's HTTP-01 validation reaches an
// instance in another process that did not start the order (certmagic keeps active
// challenges in process memory, so only the shared storage can tell it the answer).
// The order succeeds with that answer.
func TestFleetAnswersAnotherInstancesChallenge(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	p := pebbletest.Start(t, pebbletest.Options{Quiet: true})
	const name = "answered-elsewhere.edge.test"
	_, childAddr := startChild(t, answerHelperEnv+"="+db.URL+"|"+p.DirectoryURL+"|"+name)
	if _, _, err := net.SplitHostPort(childAddr); err != nil {
		t.Fatalf("child said %q", childAddr)
	}

	lns := newListeners(t)
	p.Forward(childAddr, addrOf(lns.https)) // HTTP-01 goes to the child only
	cfg := baseConfig(t, p, lns, name)
	cfg.DisableTLSALPNChallenge = true
	cfg.Storage = newPGStorage(t, db.URL, "orderer", 0)
	log, logs := testLogger(t)
	startManager(t, cfg, lns, log)
	waitHTTPS(t, addrOf(lns.https), name, p.IssuerRoots())
	if p.Orders() != 1 {
		t.Errorf("orders = %d, want 1", p.Orders())
	}
	if n := logs.FilterMessage("answered ACME HTTP-01 challenge").Len(); n != 0 {
		t.Errorf("the ordering instance answered %d challenges itself; the CA should only reach the child", n)
	}
}
