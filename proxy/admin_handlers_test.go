package proxy

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// Extra admin handlers (the chat's moderation API) answer on the unix socket only. Forged
// requests for their paths on the public listener — plain, absolute-form, with a Host of
// the socket's pseudo host, percent-encoded — must reach the site's routes (here the app),
// never the admin handler.
func TestAdminHandlersOnlyOnTheSocket(t *testing.T) {
	blue, green := startUpstream(t, "blue"), startUpstream(t, "green")
	cfg := oneApp(blue, green, shortTempDir(t))
	var hits atomic.Int64
	cfg.AdminHandlers = map[string]http.Handler{"/chat/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"path":"` + r.URL.Path + `"}`))
	})}
	s := startProxy(t, cfg)

	code, v := adminDo(t, adminClient(s.AdminSocket()), "POST", "/chat/delete", `{"ids":[1]}`)
	if code != 200 || v["path"] != "/chat/delete" || hits.Load() != 1 {
		t.Fatalf("socket: %d %v (hits %d)", code, v, hits.Load())
	}
	code, v = adminDo(t, adminClient(s.AdminSocket()), "GET", "/status", "")
	if code != 200 || v["apps"] == nil {
		t.Fatalf("built-in endpoints must still answer: %d %v", code, v)
	}

	for _, raw := range []string{
		"POST /chat/delete HTTP/1.1\r\nHost: edge\r\nContent-Length: 10\r\nConnection: close\r\n\r\n{\"ids\":[1]}",
		"POST http://edge/chat/delete HTTP/1.1\r\nHost: edge\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"GET /chat/bans HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
		"GET /%63hat/bans HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n",
		"GET //chat/bans HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n",
		"GET /status HTTP/1.1\r\nHost: edge\r\nX-Forwarded-For: 127.0.0.1\r\nConnection: close\r\n\r\n",
	} {
		out := rawExchange(t, s.HTTPAddr(), raw)
		if strings.Contains(out, `"path"`) || !strings.Contains(out, "X-Color: blue") {
			t.Errorf("public listener answered %q with\n%s", strings.SplitN(raw, "\r\n", 2)[0], out)
		}
	}
	if hits.Load() != 1 {
		t.Fatalf("the admin handler was reached %d times from the public listener", hits.Load()-1)
	}
}

func TestAdminHandlerPrefixChecked(t *testing.T) {
	for _, p := range []string{"", "/", "chat/", "/chat"} {
		cfg := oneApp(startUpstream(t, "b"), startUpstream(t, "g"), shortTempDir(t))
		cfg.AdminHandlers = map[string]http.Handler{p: http.NotFoundHandler()}
		if _, err := New(cfg, testLogger(t)); err == nil || !strings.Contains(err.Error(), "admin handler prefix") {
			t.Errorf("prefix %q: %v", p, err)
		}
	}
}
