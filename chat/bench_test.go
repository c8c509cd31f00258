package chat

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edge-server/edge/internal/pgtest"
	"github.com/valyala/fasthttp"
)

// Benchmarks. They report figures with b.ReportMetric; run them one at a time, e.g.
//
//	go test -run '^$' -bench BenchmarkWriterPostgres -benchtime 200000x ./chat/
//	EDGE_CHAT_BENCH_CONNS=10000 go test -run '^$' -bench BenchmarkIdleConnMemory -benchtime 1x ./chat/
//	EDGE_CHAT_BENCH_CONNS=10000 go test -run '^$' -bench BenchmarkFanout -benchtime 1x ./chat/

var benchSecret = []byte("bench-secret-0123456789abcdef-0123456789")

// benchServer serves a started hub on 127.0.0.1:0 (package-internal twin of chattest).
func benchServer(b testing.TB, cfg Config) (*Hub, string) {
	return benchServerTLS(b, cfg, nil)
}

// benchServerTLS is benchServer, serving TLS when tc is not nil.
func benchServerTLS(b testing.TB, cfg Config, tc *tls.Config) (*Hub, string) {
	b.Helper()
	cfg.Secret = benchSecret
	h, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Start(); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h.Handler(), KeepHijackedConns: cfg.KeepHijackedConns}
	addr := ln.Addr().String()
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = h.Shutdown(ctx)
		_ = srv.ShutdownWithContext(ctx)
	})
	return h, addr
}

// selfSigned is a throwaway certificate for 127.0.0.1.
func selfSigned(b testing.TB) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, NextProtos: []string{"http/1.1"}}
}

func benchToken(b testing.TB, h *Hub) string {
	tok, _, _, err := h.id.issue(newAnonID(), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// loadClient starts the client process and waits for READY.
type loadClient struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	out   *bufio.Scanner
}

func startLoadClient(b *testing.B, spec loadSpec) *loadClient {
	b.Helper()
	js, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), loadClientEnv+"="+string(js))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	lc := &loadClient{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	b.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	line := lc.line(b)
	if !strings.HasPrefix(line, "READY") {
		b.Fatalf("load client: %s", line)
	}
	return lc
}

func (lc *loadClient) line(b *testing.B) string {
	if !lc.out.Scan() {
		b.Fatalf("load client ended: %v", lc.out.Err())
	}
	return lc.out.Text()
}

func rssBytes() int64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func settle() (rss int64, ms runtime.MemStats) {
	for range 3 {
		runtime.GC()
		debug.FreeOSMemory()
		time.Sleep(200 * time.Millisecond)
	}
	runtime.ReadMemStats(&ms)
	return rssBytes(), ms
}

// BenchmarkIdleConnMemory measures the server's memory per idle WebSocket connection
// (each joined to one room), with the clients in another process.
func BenchmarkIdleConnMemory(b *testing.B) { benchIdle(b, false, false) }

// BenchmarkIdleConnMemoryTLS is the same over TLS (wss), as edge serves the chat in
// production, with fasthttp's default (KeepHijackedConns false): the hijack handler
// keeps running (see adopt).
func BenchmarkIdleConnMemoryTLS(b *testing.B) { benchIdle(b, true, false) }

// BenchmarkIdleConnMemoryTLSKeep is TLS with KeepHijackedConns: detached.
func BenchmarkIdleConnMemoryTLSKeep(b *testing.B) { benchIdle(b, true, true) }

func benchIdle(b *testing.B, useTLS, keep bool) {
	n := envInt("EDGE_CHAT_BENCH_CONNS", 2000)
	var tc *tls.Config
	scheme := "ws://"
	if useTLS {
		tc, scheme = selfSigned(b), "wss://"
	}
	h, addr := benchServerTLS(b, Config{MaxConnsPerIP: 1 << 20, PingInterval: time.Hour, MessageBurst: 100, KeepHijackedConns: keep}, tc)
	tok := benchToken(b, h)
	url := scheme + addr + "/chat/ws?token=" + tok
	// Warm up the code paths (and pools) with a small client first.
	startLoadClient(b, loadSpec{Mode: "idle", URL: url, Conns: 50, Room: "idle"})
	rss0, ms0 := settle()
	startLoadClient(b, loadSpec{Mode: "idle", URL: url, Conns: n, Room: "idle"})
	for range b.N {
	}
	time.Sleep(time.Second)
	rss1, ms1 := settle()
	b.ReportMetric(float64(rss1-rss0)/float64(n), "rss-bytes/conn")
	b.ReportMetric(float64((ms1.HeapInuse+ms1.StackInuse)-(ms0.HeapInuse+ms0.StackInuse))/float64(n), "go-bytes/conn")
	b.ReportMetric(float64(ms1.StackInuse-ms0.StackInuse)/float64(n), "stack-bytes/conn")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
	b.Logf("%d idle connections: RSS %d -> %d MiB", n, rss0>>20, rss1>>20)
	if path := os.Getenv("EDGE_CHAT_BENCH_HEAPPROFILE"); path != "" {
		// What each idle connection keeps alive: go tool pprof -sample_index=inuse_space.
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFanout sends messages to one room with many members (in a client process)
// and reports how long delivery took, from the send to each member's receipt.
func BenchmarkFanout(b *testing.B) {
	n := envInt("EDGE_CHAT_BENCH_CONNS", 2000)
	msgs := envInt("EDGE_CHAT_BENCH_MSGS", 20)
	h, addr := benchServer(b, Config{MaxConnsPerIP: 1 << 20, PingInterval: time.Hour, MessageBurst: 1 << 20, MessageRate: 1e6})
	tok := benchToken(b, h)
	lc := startLoadClient(b, loadSpec{Mode: "fanout", URL: "ws://" + addr + "/chat/ws?token=" + tok, Conns: n, Room: "fan", Expect: msgs})
	// Wait until every member's join is done (presence counts users; all share one).
	time.Sleep(2 * time.Second)
	sender := &benchSender{h: h}
	for range b.N {
	}
	cpu0 := cpuTime()
	for i := range msgs {
		now := time.Now()
		m := Message{Room: "fan", SenderID: "ubench", Nickname: "bench", Avatar: "a01",
			Content: fmt.Sprintf("t=%d", now.UnixNano()), CreatedAt: now.UTC(), ClientID: fmt.Sprintf("f%d", i)}
		if e := h.writer.submit(sendReq{msg: m, reply: sender}); e != nil {
			b.Fatal(e)
		}
		time.Sleep(300 * time.Millisecond)
	}
	line := lc.line(b)
	// The sends are spaced out; server CPU between them is negligible next to delivery.
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(cpu.Microseconds())/float64(msgs*n), "server-cpu-us/recipient")
	b.Log(line)
	for _, f := range strings.Fields(line)[1:] {
		k, v, _ := strings.Cut(f, "=")
		x, _ := strconv.ParseFloat(v, 64)
		if k != "n" {
			b.ReportMetric(x, k+"-ms")
		}
	}
}

type benchSender struct{ h *Hub }

func (s *benchSender) acked(string, int64)         {}
func (s *benchSender) failed(m *Message, e *Error) { panic(e) }

// benchWriter pushes b.N sends from 200 simulated senders through the writer into the
// store and waits for every ack: durable (committed) messages per second.
func benchWriter(b *testing.B, cfg Config) {
	cfg.Secret = benchSecret
	cfg.WriterQueue = 1 << 20
	h, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Shutdown(context.Background()) })
	acks := &countingReplier{done: make(chan struct{})}
	acks.want.Store(int64(b.N))
	content := strings.Repeat("benchmark message ", 4)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		m := Message{Room: fmt.Sprintf("room%d", i%50), SenderID: fmt.Sprintf("u%03d", i%200), Nickname: "bench",
			Avatar: "a01", Content: content, CreatedAt: time.Now().UTC().Truncate(time.Microsecond), ClientID: fmt.Sprintf("c%d", i)}
		for h.writer.submit(sendReq{msg: m, reply: acks}) != nil {
			time.Sleep(time.Millisecond) // queue full: back off like a client would
		}
	}
	select {
	case <-acks.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d acked", b.N-int(acks.want.Load()), b.N)
	}
	took := time.Since(start)
	b.StopTimer()
	if f := acks.nfailed.Load(); f > 0 {
		b.Fatalf("%d sends failed", f)
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "msgs/s")
}

type countingReplier struct {
	want    atomic.Int64
	nfailed atomic.Int64
	done    chan struct{}
}

func (r *countingReplier) acked(string, int64) {
	if r.want.Add(-1) == 0 {
		close(r.done)
	}
}

func (r *countingReplier) failed(*Message, *Error) {
	r.nfailed.Add(1)
	if r.want.Add(-1) == 0 {
		close(r.done)
	}
}

func BenchmarkWriterPostgres(b *testing.B) {
	benchWriter(b, Config{DatabaseURL: pgtest.New(b).URL, BatchMax: envInt("EDGE_CHAT_BENCH_BATCH", 0)})
}

func BenchmarkWriterMemory(b *testing.B) {
	benchWriter(b, Config{})
}

// cpuTime is this process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
