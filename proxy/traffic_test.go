package proxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// pausedApp is "web" at / plus a local handler at /local/ (the chat stands for such
// routes: pause and maintenance never touch them).
func pausedApp(t *testing.T) (*Server, *upstream, *upstream, Config) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	cfg.Handlers = map[string]fasthttp.RequestHandler{"local": func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("local") }}
	cfg.Sites[0].Routes = append(cfg.Sites[0].Routes, RouteConfig{Path: "/local/", Handler: "local"})
	return startProxy(t, cfg), blue, green, cfg
}

// TestPauseUnderLoad: 3 s of pause under load fail nothing; held requests go on at
// resume, so the p99 latency is bounded by the pause; the local route is not held.
func TestPauseUnderLoad(t *testing.T) {
	s, _, _, _ := pausedApp(t)
	l := startLoad(s, 16, "/")
	eventually(t, 5*time.Second, "load running", func() bool { return l.total.Load() > 200 })
	const pause = 3 * time.Second
	if _, err := s.Pause(context.Background(), "", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	eventually(t, 2*time.Second, "every worker held", func() bool { return s.Status().Apps[0].Held == 16 })
	st := s.Status().Apps[0]
	if !st.Paused || st.MaxWait != "10s" {
		t.Fatalf("status while paused %+v", st)
	}
	if code, body, _ := get(t, client(s), "a", "/local/x"); code != 200 || body != "local" {
		t.Fatalf("local route while paused: %d %q", code, body)
	}
	before := l.total.Load()
	time.Sleep(pause - time.Since(paused))
	if l.total.Load() != before {
		t.Fatalf("%d requests answered while paused", l.total.Load()-before)
	}
	res, err := s.Resume(context.Background(), "web")
	if err != nil || res.Released != 16 || !res.Changed {
		t.Fatalf("resume %+v %v", res, err)
	}
	eventually(t, 5*time.Second, "load running again", func() bool { return l.total.Load() > before+200 })
	l.finish(t)
	p99 := l.percentile(99)
	if max := l.percentile(100); max < pause-200*time.Millisecond || max > pause+time.Second {
		t.Fatalf("slowest request took %s, want about the pause (%s)", max, pause)
	}
	if p99 > pause+time.Second {
		t.Fatalf("p99 %s is above the pause length %s (+1s)", p99, pause)
	}
	t.Logf("%d requests, 0 failed, p99 %s, max %s", l.total.Load(), p99, l.percentile(100))
	if st := s.Status().Apps[0]; st.Paused || st.Held != 0 {
		t.Fatalf("status after resume %+v", st)
	}
}

// TestPauseMaxWait: a request held longer than max_wait gets 503 with Retry-After.
func TestPauseMaxWait(t *testing.T) {
	s, _, _, _ := pausedApp(t)
	if _, err := s.Pause(context.Background(), "web", 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, _, h := get(t, client(s), "a", "/")
	took := time.Since(start)
	if code != 503 || string(h.Peek("Retry-After")) != "5" || took < 250*time.Millisecond || took > 2*time.Second {
		t.Fatalf("held past max_wait: %d Retry-After %q after %s", code, h.Peek("Retry-After"), took)
	}
	if st := s.Status().Apps[0]; !st.Paused || st.Held != 0 {
		t.Fatalf("status %+v", st)
	}
}

// TestMaintenanceUnderLoad: while on, every answer is 503 with Retry-After (HTML or
// JSON by Accept, with the message), never a connection error; health checks go on;
// the local route is unaffected; off restores the app.
func TestMaintenanceUnderLoad(t *testing.T) {
	s, _, _, _ := pausedApp(t)
	var mu sync.Mutex
	var seen503 int
	accept := func(resp *fasthttp.Response) bool {
		switch resp.StatusCode() {
		case 200:
			return true
		case 503:
			mu.Lock()
			seen503++
			mu.Unlock()
			return len(resp.Header.Peek("Retry-After")) > 0 && strings.Contains(string(resp.Body()), "back at 5 &lt;pm&gt;")
		}
		return false
	}
	l := startLoadWith(s, 16, func(w int, req *fasthttp.Request) { req.SetRequestURI("http://a/") }, accept)
	eventually(t, 5*time.Second, "load running", func() bool { return l.total.Load() > 200 })
	if _, err := s.Maintenance(context.Background(), "", true, "back at 5 <pm>"); err != nil {
		t.Fatal(err)
	}
	checkedBefore := s.Status().Apps[0].Slots.Blue.LastCheck
	c := client(s)
	code, body, h := get(t, c, "a", "/", "Accept", "application/json")
	if code != 503 || string(h.Peek("Retry-After")) != "30" || string(h.ContentType()) != "application/json" ||
		!strings.Contains(body, `"message":"back at 5 \u003cpm\u003e"`) {
		t.Fatalf("JSON maintenance answer %d %s %q", code, h.ContentType(), body)
	}
	code, body, h = get(t, c, "a", "/", "Accept", "text/html")
	if code != 503 || !strings.HasPrefix(string(h.ContentType()), "text/html") || !strings.Contains(body, "back at 5 &lt;pm&gt;") {
		t.Fatalf("HTML maintenance answer %d %q", code, body)
	}
	if code, body, _ := get(t, c, "a", "/local/"); code != 200 || body != "local" {
		t.Fatalf("local route in maintenance: %d %q", code, body)
	}
	eventually(t, 2*time.Second, "health checks keep running", func() bool {
		return s.Status().Apps[0].Slots.Blue.LastCheck.After(checkedBefore)
	})
	if st := s.Status().Apps[0]; !st.Maintenance || st.Message != "back at 5 <pm>" {
		t.Fatalf("status %+v", st)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := s.Maintenance(context.Background(), "", false, ""); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := get(t, c, "a", "/"); code != 200 || body != "blue" {
		t.Fatalf("after maintenance off: %d %q", code, body)
	}
	time.Sleep(200 * time.Millisecond)
	l.finish(t)
	mu.Lock()
	defer mu.Unlock()
	if seen503 < 50 {
		t.Fatalf("only %d maintenance answers under load", seen503)
	}
	t.Logf("%d requests, %d answered 503 in maintenance, 0 failed", l.total.Load(), seen503)
}

// tryGetCookie is tryGet with a Cookie header, for goroutines.
func tryGetCookie(c *fasthttp.HostClient, cookie string) (int, string, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://a/")
	req.Header.Set("Cookie", cookie)
	if err := c.Do(req, resp); err != nil {
		return 0, "", err
	}
	return resp.StatusCode(), string(resp.Body()), nil
}

// visitorGet asks for / as visitor v (a cookie), returning the color that answered.
func visitorGet(t *testing.T, c *fasthttp.HostClient, v int) string {
	t.Helper()
	_, body, _ := get(t, c, "a", "/", "Cookie", fmt.Sprintf("%s=visitor-%d", VisitorCookie, v))
	return body
}

// TestCanarySticky: 10% over 10,000 requests from 1,000 cookie visitors sends 8–12%
// of visitors to green, each always to the same color; a client without cookies
// always gets the same color too, and is given the cookie.
func TestCanarySticky(t *testing.T) {
	s, _, _, _ := pausedApp(t)
	res, err := s.SwitchWith(context.Background(), "web", Green, SwitchOptions{Weight: 10})
	if err != nil || res.Weight != 10 || res.Drain != nil {
		t.Fatalf("canary %+v %v", res, err)
	}
	if st := s.Status().Apps[0]; st.Active != "blue" || st.Weight != 10 {
		t.Fatalf("status %+v", st)
	}
	c := client(s)
	colorOf := make([]string, 1000)
	var wg sync.WaitGroup
	for g := range 8 { // 8 clients at once, each visitor's 10 requests in order
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := g; v < 1000; v += 8 {
				for round := range 10 {
					_, got, err := tryGetCookie(c, fmt.Sprintf("%s=visitor-%d", VisitorCookie, v))
					if err != nil {
						t.Error(err)
						return
					}
					if round == 0 {
						colorOf[v] = got
					} else if got != colorOf[v] {
						t.Errorf("visitor %d got %s, then %s", v, colorOf[v], got)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	green := 0
	for _, col := range colorOf {
		if col == "green" {
			green++
		}
	}
	if green < 80 || green > 120 {
		t.Fatalf("%d of 1000 visitors on green at weight 10", green)
	}
	t.Logf("weight 10: %d of 1000 visitors on green, each always the same color", green)
	// Without a cookie: the same color every time, and a cookie that keeps it.
	_, first, h := get(t, c, "a", "/")
	cookie := string(h.Peek("Set-Cookie"))
	if !strings.HasPrefix(cookie, VisitorCookie+"=") || !strings.Contains(cookie, "HttpOnly") {
		t.Fatalf("no visitor cookie for a cookieless client: %q", cookie)
	}
	id := strings.TrimPrefix(strings.SplitN(cookie, ";", 2)[0], VisitorCookie+"=")
	for range 20 {
		if _, body, _ := get(t, c, "a", "/"); body != first {
			t.Fatal("a cookieless client changed color")
		}
		if _, body, _ := get(t, c, "a", "/", "Cookie", VisitorCookie+"="+id); body != first {
			t.Fatal("the cookie edge set gives another color than the address did")
		}
	}
	// Raising the weight moves more visitors and keeps the earlier canary visitors.
	if _, err := s.SwitchWith(context.Background(), "web", Green, SwitchOptions{Weight: 50}); err != nil {
		t.Fatal(err)
	}
	now := 0
	for v := range 1000 {
		got := visitorGet(t, c, v)
		if colorOf[v] == "green" && got != "green" {
			t.Fatalf("visitor %d left the canary when its weight rose", v)
		}
		if got == "green" {
			now++
		}
	}
	if now < 440 || now > 560 {
		t.Fatalf("%d of 1000 visitors on green at weight 50", now)
	}
}

// TestCanaryCompleteAndRollbackUnderLoad: completing a canary and rolling one back
// under load fail no request; afterwards every visitor is on one color.
func TestCanaryCompleteAndRollbackUnderLoad(t *testing.T) {
	s, _, _, _ := pausedApp(t)
	build := func(w int, req *fasthttp.Request) {
		req.SetRequestURI("http://a/")
		req.Header.SetCookie(VisitorCookie, fmt.Sprintf("w%d-%d", w, time.Now().UnixNano()%97))
	}
	l := startLoadWith(s, 16, build, nil)
	eventually(t, 5*time.Second, "load running", func() bool { return l.total.Load() > 200 })
	ctx := context.Background()
	if _, err := s.SwitchWith(ctx, "", Green, SwitchOptions{Weight: 30}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "green serving part", func() bool { return l.count("green") > 100 })
	res, err := s.Switch(ctx, "", Green, 0) // complete
	if err != nil || !res.Changed || res.Drain == nil || res.Drain.Cut != 0 || res.Weight != 0 {
		t.Fatalf("complete %+v %v", res, err)
	}
	time.Sleep(50 * time.Millisecond) // answers edge finished may still be on their way
	blueAfter := l.count("blue")
	time.Sleep(300 * time.Millisecond)
	if l.count("blue") != blueAfter {
		t.Fatal("blue answered after the canary was completed and drained")
	}
	if _, err := s.SwitchWith(ctx, "", Blue, SwitchOptions{Weight: 20}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "blue serving part", func() bool { return l.count("blue") > blueAfter+100 })
	res, err = s.Rollback(ctx, "", 0)
	if err != nil || !res.Changed || res.Drain == nil || res.Drain.Cut != 0 {
		t.Fatalf("rollback %+v %v", res, err)
	}
	time.Sleep(50 * time.Millisecond)
	blueAfter = l.count("blue")
	time.Sleep(300 * time.Millisecond)
	l.finish(t)
	if l.count("blue") != blueAfter {
		t.Fatal("blue answered after the canary was rolled back and drained")
	}
	if st := s.Status().Apps[0]; st.Active != "green" || st.Weight != 0 || st.Previous != "blue" {
		t.Fatalf("status %+v", st)
	}
	t.Logf("%d requests through two canaries, a completion and a rollback, 0 failed", l.total.Load())
}

// TestTrafficBadInput: each refusal is one sentence and changes nothing.
func TestTrafficBadInput(t *testing.T) {
	s, _, _, _ := pausedApp(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		do   func() error
		want string
	}{
		{"weight 0", func() error { _, err := s.SwitchWith(ctx, "", Green, SwitchOptions{Weight: -1}); return err }, "weight -1 is outside 1 to 99"},
		{"weight 100", func() error { _, err := s.SwitchWith(ctx, "", Green, SwitchOptions{Weight: 100}); return err }, "weight 100 is outside 1 to 99"},
		{"canary on the live color", func() error { _, err := s.SwitchWith(ctx, "", Blue, SwitchOptions{Weight: 10}); return err }, "blue is already live for web"},
		{"pause unknown app", func() error { _, err := s.Pause(ctx, "nope", 0); return err }, `there is no app named "nope"`},
		{"pause too long", func() error { _, err := s.Pause(ctx, "", time.Hour); return err }, "max_wait 1h0m0s is outside"},
		{"maintenance unknown app", func() error { _, err := s.Maintenance(ctx, "nope", true, ""); return err }, `there is no app named "nope"`},
		{"message too long", func() error { _, err := s.Maintenance(ctx, "", true, strings.Repeat("x", 2000)); return err }, "longer than 1024 bytes"},
	} {
		err := tt.do()
		var e *Error
		if !errors.As(err, &e) || e.Status != 400 || !strings.Contains(e.Msg, tt.want) || strings.Contains(e.Msg, "\n") {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	if st := s.Status().Apps[0]; st.Weight != 0 || st.Paused || st.Maintenance || st.Active != "blue" {
		t.Fatalf("bad input changed the state: %+v", st)
	}
}

// TestTrafficStateSurvivesRestart: weight, pause and maintenance are persisted.
func TestTrafficStateSurvivesRestart(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	s1, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s1.SwitchWith(ctx, "", Green, SwitchOptions{Weight: 25}); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Pause(ctx, "", 45*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Maintenance(ctx, "", true, "db upgrade"); err != nil {
		t.Fatal(err)
	}
	if err := s1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s2 := startProxy(t, cfg)
	st := s2.Status().Apps[0]
	if st.Weight != 25 || !st.Paused || st.MaxWait != "45s" || !st.Maintenance || st.Message != "db upgrade" {
		t.Fatalf("after restart %+v", st)
	}
	if code, _, _ := get(t, client(s2), "a", "/"); code != 503 {
		t.Fatalf("maintenance after restart: %d", code)
	}
}

// TestTrafficStateSurvivesReload: a reload that adds a replica keeps the canary,
// pause and maintenance, and the new replica takes its share once healthy.
func TestTrafficStateSurvivesReload(t *testing.T) {
	s, _, _, cfg := pausedApp(t)
	ctx := context.Background()
	if _, err := s.SwitchWith(ctx, "", Green, SwitchOptions{Weight: 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Maintenance(ctx, "", true, "later"); err != nil {
		t.Fatal(err)
	}
	b2 := startUpstream(t, "blue2")
	cfg.Apps[0].Blue = append(cfg.Apps[0].Blue, b2.addr)
	if err := s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	st := s.Status().Apps[0]
	if st.Weight != 20 || !st.Maintenance || st.Message != "later" || len(st.Slots.Blue.Replicas) != 2 {
		t.Fatalf("after reload %+v", st)
	}
	if _, err := s.Maintenance(ctx, "", false, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "blue2 healthy", func() bool { return s.Status().Apps[0].Slots.Blue.HealthyReplicas == 2 })
	c := client(s)
	got := map[string]int{}
	for v := range 200 {
		got[visitorGet(t, c, v)]++
	}
	if got["blue2"] == 0 || got["blue"] == 0 || got["green"] == 0 {
		t.Fatalf("after reload visitors went to %v", got)
	}
}

// TestPausedRequestsEndAtShutdown: a request held by a pause gets 503 when edge
// shuts down instead of keeping the shutdown waiting for max_wait.
func TestPausedRequestsEndAtShutdown(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	s, err := New(oneApp(blue, green, shortTempDir(t)), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pause(context.Background(), "", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		code, _, _ := tryGet(client(s), "a", "/")
		done <- code
	}()
	eventually(t, 5*time.Second, "the request held", func() bool { return s.Status().Apps[0].Held == 1 })
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 503 || time.Since(start) > 3*time.Second {
		t.Fatalf("held request got %d after %s", code, time.Since(start))
	}
}
