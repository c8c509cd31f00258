package main

import (
	"encoding/json"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary act as a chatload worker process (startProcess runs
// os.Args[0] with the worker config in the environment).
func TestMain(m *testing.M) {
	if js := os.Getenv(workerEnv); js != "" {
		workerMain(js)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testConfig(url string) Config {
	cfg := Config{URL: url, Conns: 40, Rooms: 4, Senders: 4, Rate: 200, Duration: time.Second, Drain: 500 * time.Millisecond}
	if err := cfg.setDefaults(); err != nil {
		panic(err)
	}
	return cfg
}

func inProc(c Config) (*handle, error) { return startInProcess(c), nil }

func TestCountsMatchTheServer(t *testing.T) {
	for _, mode := range []string{"goroutines", "processes"} {
		t.Run(mode, func(t *testing.T) {
			ps := newProtoServer(t, false, 0)
			cfg := testConfig(ps.URL)
			start := inProc
			if mode == "processes" {
				start = startProcess
			}
			rep, err := coordinate(cfg, 2, os.Getpid(), 10*time.Millisecond, start, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Workers != 2 || rep.Connected != 40 || rep.Failed != 0 || rep.JoinTimeout != 0 {
				t.Fatalf("connect: %+v", rep)
			}
			// 200 msg/s for 1 s, paced by a 1 ms ticker: allow scheduling slack on a busy box.
			if rep.Sent < 100 || rep.Sent > 210 || rep.SendFailed != 0 {
				t.Fatalf("sent %d (failed %d), want about 200", rep.Sent, rep.SendFailed)
			}
			if rep.Acked != rep.Sent {
				t.Fatalf("acked %d of %d", rep.Acked, rep.Sent)
			}
			// Every room has 10 members (senders included), so each message arrives 10 times.
			if rep.Delivered != rep.Sent*10 {
				t.Fatalf("delivered %d, want %d", rep.Delivered, rep.Sent*10)
			}
			if rep.Presence != 40 || rep.Closed != 0 || len(rep.ErrorFrames) != 0 {
				t.Fatalf("presence %d, closed %d, errors %v", rep.Presence, rep.Closed, rep.ErrorFrames)
			}
			if rep.LatP50MS <= 0 || rep.LatP99MS < rep.LatP50MS || rep.AckP50MS <= 0 || rep.DurablePerSec <= 0 {
				t.Fatalf("latency/throughput not measured: %+v", rep)
			}
			// A frame reaches the socket before the client reads it: every arrival
			// sample is at most its read sample, so are the quantiles.
			if rep.ArrP50MS <= 0 || rep.ArrP50MS > rep.LatP50MS || rep.ArrP99MS > rep.LatP99MS || rep.ArrMaxMS > rep.LatMaxMS {
				t.Fatalf("arrival latency not measured or later than the reads: %+v", rep)
			}
			if rep.RSSBeforeKiB <= 0 || rep.RSSAfterKiB <= 0 {
				t.Fatalf("RSS of pid %d not read: %+v", rep.EdgePID, rep)
			}
			ps.mu.Lock()
			defer ps.mu.Unlock()
			if len(ps.sources) != 8 {
				t.Fatalf("connections came from %v, want all 8 of 127.0.0.2–9", ps.sources)
			}
			for _, members := range ps.rooms {
				if len(members) != 10 {
					t.Fatalf("room sizes uneven: %d", len(members))
				}
			}
		})
	}
}

func TestHostileFramesAreCountedNotFatal(t *testing.T) {
	ps := newProtoServer(t, true, 0)
	cfg := testConfig(ps.URL)
	cfg.Conns, cfg.Rooms, cfg.Senders, cfg.Rate = 8, 2, 2, 50
	rep, err := coordinate(cfg, 1, 0, 0, inProc, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Connected != 8 || rep.Acked != rep.Sent || rep.Sent == 0 {
		t.Fatalf("%+v", rep)
	}
	// Each connection got one unparsable "message" content, counted as delivered but
	// without a latency sample; the histogram must hold exactly the real ones.
	if rep.Delivered != rep.Sent*4+8 {
		t.Fatalf("delivered %d, want %d", rep.Delivered, rep.Sent*4+8)
	}
}

func TestSessionFailuresAreReported(t *testing.T) {
	ps := newProtoServer(t, false, 503)
	cfg := testConfig(ps.URL)
	cfg.Conns = 5
	rep, err := coordinate(cfg, 1, 0, 0, inProc, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Connected != 0 || rep.Failed != 5 || rep.ConnectErrors["session: status 503"] != 5 || rep.Sent != 0 {
		t.Fatalf("%+v", rep)
	}
}

func TestConnectRefusedIsReported(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1/chat/")
	cfg.Conns = 3
	rep, err := coordinate(cfg, 1, 0, 0, inProc, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 3 || rep.Connected != 0 {
		t.Fatalf("%+v", rep)
	}
}

func TestConfig(t *testing.T) {
	bad := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "required"},
		{Config{URL: "ftp://x/"}, "must be http"},
		{Config{URL: "http://127.0.0.1:1/chat/", Sources: []string{"10.0.0.1"}}, "not a loopback"},
		{Config{URL: "http://127.0.0.1:1/chat/", Sources: []string{"nonsense"}}, "not a loopback"},
	}
	for _, tc := range bad {
		if err := tc.cfg.setDefaults(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
	cfg := Config{URL: "http://127.0.0.1:1/chat", Conns: 25001, Rooms: 7, Rate: 1000}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if cfg.URL != "http://127.0.0.1:1/chat/" || cfg.Senders != 100 || len(cfg.Sources) != 8 || cfg.Origin != "http://127.0.0.1:1" {
		t.Fatalf("defaults %+v", cfg)
	}
	ws := cfg.workers(0)
	total := 0
	for i, w := range ws {
		if w.Count > cfg.PerProc || w.First != total || w.Worker != i {
			t.Fatalf("worker %d: %+v", i, w)
		}
		total += w.Count
	}
	if len(ws) != 3 || total != cfg.Conns {
		t.Fatalf("%d workers for %d conns", len(ws), total)
	}
	perRoom := map[string]int{}
	senders := 0
	for g := 0; g < cfg.Conns; g++ {
		if cfg.senderNo(g) >= 0 {
			senders++
			perRoom[cfg.roomOf(g)]++
		}
	}
	if senders != cfg.Senders || len(perRoom) != 7 {
		t.Fatalf("%d senders over %d rooms", senders, len(perRoom))
	}
}

func TestHistogramPrecision(t *testing.T) {
	prev := -1
	for v := int64(0); v < 1<<27; v = v*9/8 + 1 {
		b := bucketOf(v)
		if b < prev {
			t.Fatalf("bucket of %d went down", v)
		}
		prev = b
		if mid := bucketMid(b); v >= linear && math.Abs(mid-float64(v))/float64(v) > 0.035 {
			t.Fatalf("value %d lands in bucket %d (mid %.0f): off by more than 3.5%%", v, b, mid)
		}
	}
	if bucketOf(-5) != 0 || bucketOf(math.MaxInt64) != numBuckets-1 {
		t.Fatal("out-of-range values must clamp")
	}
	var h hist
	for i := int64(1); i <= 1000; i++ {
		h.record(i * 1000) // 1 ms … 1 s
	}
	s := sparseHist{}
	s.merge(h.snapshot())
	s.merge(map[int]int64{-1: 5, numBuckets: 5}) // hostile indexes are ignored
	if p50 := s.quantile(0.5); math.Abs(p50-500) > 500*0.035 {
		t.Fatalf("p50 %.1f ms, want ~500", p50)
	}
	if p99 := s.quantile(0.99); math.Abs(p99-990) > 990*0.035 {
		t.Fatalf("p99 %.1f ms, want ~990", p99)
	}
	if (sparseHist{}).quantile(0.5) != 0 {
		t.Fatal("empty histogram must give 0")
	}
}

func TestStamps(t *testing.T) {
	if v, ok := stampFromContent("chatload 12345 1-2"); !ok || v != 12345 {
		t.Fatal(v, ok)
	}
	for _, s := range []string{"", "chatload", "chatload x", "hello 1", "chatload -5 x"} {
		if _, ok := stampFromContent(s); ok {
			t.Errorf("%q parsed", s)
		}
	}
	if v, ok := stampFromClientID("run.1.2.999"); !ok || v != 999 {
		t.Fatal(v, ok)
	}
	for _, s := range []string{"", "nodots", "a.b.c.x", "a.-1"} {
		if _, ok := stampFromClientID(s); ok {
			t.Errorf("%q parsed", s)
		}
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	r := Report{Connected: 3, ErrorFrames: map[string]int64{"rate_limited": 2}}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil || back.ErrorFrames["rate_limited"] != 2 {
		t.Fatalf("%v %+v", err, back)
	}
	var sb strings.Builder
	r.print(&sb)
	if !strings.Contains(sb.String(), "rate_limited") {
		t.Fatal(sb.String())
	}
}

// The fast frame paths agree with encoding/json: the send frame byte for byte, and the
// fields read looks at for every frame edge sends (and for look-alikes that must fall
// back to encoding/json).
func TestFastFramesAgreeWithJSON(t *testing.T) {
	for _, s := range [][3]string{
		{"bench-1a2b-7", "chatload 1764604800000000000 7-1", "1a2b.7.1.1764604800000000000"},
		{`r"<&>`, "é \n\t\\ \u2028 \x01", "c\"1"},
		{"", "", ""},
	} {
		want, _ := json.Marshal(map[string]string{"type": "send", "room": s[0], "content": s[1], "client_id": s[2]})
		if got := appendSendFrame(nil, s[0], []byte(s[1]), []byte(s[2])); string(got) != string(want) {
			t.Errorf("send frame\n got %s\nwant %s", got, want)
		}
	}
	for _, data := range []string{
		`{"type":"ack","client_id":"1a2b.7.1.1764604800000000000","id":42}`,
		`{"type":"ack","client_id":"a\"b.1.2.3","id":42}`,
		`{"type":"ack","client_id":"x\u00e9","id":1}`,
		"{\"type\":\"ack\",\"client_id\":\"bad\xff\",\"id\":1}",
		`{"type":"ack","client_id":"truncated`,
		`{"type":"ack","client_id":"ok","id":}`,
		`{"type":"message","room":"r","message":{"id":1,"room":"r","sender_id":"s","nickname":"n \"content\":\"x","avatar":"a01","content":"chatload 123 1-1","created_at":"2026-12-01T00:00:00Z","client_id":"c"}}`,
		`{"type":"message","room":"r","message":{"content":"with \\ escape 99"}}`,
		`{"type":"message","room":"r","message":{"content":"chatload 5 1-1"}`,
		`{"type":"history","room":"r","messages":[]}`,
		`{"type":"error","code":"unavailable","message":"x","client_id":"c"}`,
		`{"type":"presence","room":"r","online":1}`,
	} {
		var fast, slow frame
		ferr := decodeFrame([]byte(data), &fast)
		serr := json.Unmarshal([]byte(data), &slow)
		if (ferr == nil) != (serr == nil) {
			t.Errorf("%s: fast error %v, encoding/json error %v", data, ferr, serr)
			continue
		}
		if serr != nil {
			continue
		}
		if fast.Type != slow.Type || fast.ClientID != slow.ClientID || (slow.Type != "ack" && fast != slow) {
			t.Errorf("%s:\nfast %+v\njson %+v", data, fast, slow)
		}
	}
}
