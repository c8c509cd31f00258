package proxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestSwitchAuto: an automatic canary whose green answers 500 is rolled back after
// its first step; one whose green is as good as blue completes.
func TestSwitchAuto(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	var greenBroken atomic.Bool
	greenBroken.Store(true)
	green.handle = func(ctx *fasthttp.RequestCtx) {
		if greenBroken.Load() {
			ctx.Error("broken", 500)
			return
		}
		ctx.SetBodyString("green")
	}
	s := startProxy(t, oneApp(blue, green, shortTempDir(t)))
	var n atomic.Int64
	build := func(w int, req *fasthttp.Request) {
		req.SetRequestURI("http://a/")
		req.Header.SetCookie(VisitorCookie, fmt.Sprint(n.Add(1)))
	}
	l := startLoadWith(s, 8, build, func(resp *fasthttp.Response) bool { return resp.StatusCode() == 200 || resp.StatusCode() == 500 })
	defer l.finish(t)
	o := AutoOptions{Steps: []int{20, 50}, Hold: 400 * time.Millisecond, MaxErrorRise: 5}
	_, err := s.SwitchAuto(context.Background(), "web", Green, o)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeCanaryFailed || !strings.Contains(e.Msg, "at 20%") || !strings.HasSuffix(e.Msg, "every visitor is back on blue") {
		t.Fatalf("broken green: %v", err)
	}
	if st := s.Status().Apps[0]; st.Active != "blue" || st.Weight != 0 {
		t.Fatalf("after the failed canary %+v", st)
	}
	greenBroken.Store(false)
	res, err := s.SwitchAuto(context.Background(), "web", Green, o)
	if err != nil || !res.Changed || res.Drain == nil {
		t.Fatalf("good green: %+v %v", res, err)
	}
	if st := s.Status().Apps[0]; st.Active != "green" || st.Weight != 0 {
		t.Fatalf("after the automatic rollout %+v", st)
	}
	if _, err := s.SwitchAuto(context.Background(), "web", Blue, AutoOptions{Steps: []int{50, 10}}); err == nil || !strings.Contains(err.Error(), "must rise") {
		t.Fatalf("falling steps: %v", err)
	}
}
