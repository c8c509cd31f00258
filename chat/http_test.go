package chat_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/chat/chattest"
)

func do(t *testing.T, method, url string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func TestPagesAndAssets(t *testing.T) {
	assets := fstest.MapFS{
		"static/index.html":      {Data: []byte("<!doctype html><title>chat</title>")},
		"static/widget.js":       {Data: []byte("(function(){})();")},
		"static/app.css":         {Data: []byte("body{}")},
		"static/avatars/a01.svg": {Data: []byte("<svg/>")},
	}
	srv := chattest.Start(t, chat.Config{Origins: []string{"https://blog.example.com"}, Assets: assets}, nil)
	for _, path := range []string{"", "?room=lobby"} {
		res, body := do(t, "GET", srv.URL+path, nil, nil)
		if res.StatusCode != 200 || !strings.Contains(strings.ToLower(string(body)), "<!doctype html>") ||
			!strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET mount%s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if csp := res.Header.Get("Content-Security-Policy"); csp != "frame-ancestors 'self' https://blog.example.com" {
			t.Fatalf("CSP = %q", csp)
		}
	}
	res, body := do(t, "GET", srv.URL+"widget.js", nil, map[string]string{"Origin": "https://anywhere.example"})
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/javascript; charset=utf-8" ||
		res.Header.Get("Access-Control-Allow-Origin") != "*" || len(body) == 0 {
		t.Fatalf("widget.js: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Access-Control-Allow-Origin"))
	}
	etag := res.Header.Get("ETag")
	if res, _ := do(t, "GET", srv.URL+"widget.js", nil, map[string]string{"If-None-Match": etag}); res.StatusCode != 304 {
		t.Fatalf("If-None-Match: %d", res.StatusCode)
	}
	for p, ct := range map[string]string{"static/app.css": "text/css; charset=utf-8", "static/avatars/a01.svg": "image/svg+xml"} {
		res, _ = do(t, "GET", srv.URL+p, nil, nil)
		if res.StatusCode != 200 || res.Header.Get("ETag") == "" || res.Header.Get("Content-Type") != ct {
			t.Fatalf("%s: %d %q", p, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
	for _, p := range []string{"static/nope.js", "static/../../etc/passwd", "nothing", "api/nothing", "api/rooms/r/other"} {
		if res, _ := do(t, "GET", srv.URL+p, nil, nil); res.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
	if res, _ := do(t, "POST", srv.URL+"widget.js", nil, nil); res.StatusCode != 405 {
		t.Errorf("POST widget.js: %d", res.StatusCode)
	}
	res, body = do(t, "GET", srv.URL+"api/config", nil, nil)
	var cfg map[string]any
	if res.StatusCode != 200 || json.Unmarshal(body, &cfg) != nil || cfg["locale"] != "ko" || cfg["mount"] != "/chat/" {
		t.Fatalf("api/config: %d %s", res.StatusCode, body)
	}
}

func TestPageWithoutOriginsIsSameOriginOnly(t *testing.T) {
	srv := chattest.Start(t, chat.Config{}, nil)
	res, _ := do(t, "GET", srv.URL, nil, nil)
	if res.Header.Get("Content-Security-Policy") != "frame-ancestors 'self'" || res.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Fatalf("headers %v", res.Header)
	}
}

func TestSessionEndpoint(t *testing.T) {
	srv := chattest.Start(t, chat.Config{NicknameLocale: "en", Origins: []string{"https://blog.example.com"}}, nil)
	url := srv.URL + "api/session"
	var first struct {
		Token     string    `json:"token"`
		User      chat.User `json:"user"`
		ExpiresAt string    `json:"expires_at"`
		AnonID    string    `json:"anon_id"`
	}
	res, body := do(t, "POST", url, []byte(`{"anon_id":"0f8fad5b-d9cb-469f-a165-70867728950e"}`), nil)
	if res.StatusCode != 200 || json.Unmarshal(body, &first) != nil || first.Token == "" || first.ExpiresAt == "" {
		t.Fatalf("session: %d %s", res.StatusCode, body)
	}
	if len(strings.Fields(first.User.Nickname)) < 2 || !strings.HasPrefix(first.User.Avatar, "a") {
		t.Fatalf("user %+v", first.User)
	}
	_, body2 := do(t, "POST", url, []byte(`{"anon_id":"0f8fad5b-d9cb-469f-a165-70867728950e"}`), nil)
	var again struct {
		User chat.User `json:"user"`
	}
	_ = json.Unmarshal(body2, &again)
	if again.User != first.User {
		t.Fatalf("same anon_id, different user: %+v vs %+v", again.User, first.User)
	}
	// No anon_id: one is generated and returned.
	res, body = do(t, "POST", url, nil, nil)
	var gen struct {
		AnonID string `json:"anon_id"`
	}
	if res.StatusCode != 200 || json.Unmarshal(body, &gen) != nil || len(gen.AnonID) < 16 {
		t.Fatalf("generated session: %d %s", res.StatusCode, body)
	}
	// CORS for the allowed origin only.
	res, _ = do(t, "OPTIONS", url, nil, map[string]string{"Origin": "https://blog.example.com", "Access-Control-Request-Method": "POST"})
	if res.Header.Get("Access-Control-Allow-Origin") != "https://blog.example.com" {
		t.Fatalf("preflight: %d %v", res.StatusCode, res.Header)
	}
	for _, tc := range []struct {
		name, method, body string
		hdr                map[string]string
		status             int
		code               string
	}{
		{"GET", "GET", "", nil, 405, "method_not_allowed"},
		{"bad JSON", "POST", `{"anon_id":`, nil, 400, "bad_request"},
		{"array", "POST", `[]`, nil, 400, "bad_request"},
		{"short anon", "POST", `{"anon_id":"short"}`, nil, 400, "bad_request"},
		{"bad chars", "POST", `{"anon_id":"<script>alert(1)</script>xx"}`, nil, 400, "bad_request"},
		{"huge body", "POST", `{"anon_id":"` + strings.Repeat("a", 5000) + `"}`, nil, 413, "too_large"},
		{"foreign origin", "POST", `{}`, map[string]string{"Origin": "https://evil.example"}, 403, "forbidden_origin"},
	} {
		res, body := do(t, tc.method, url, []byte(tc.body), tc.hdr)
		var e struct{ Code string }
		_ = json.Unmarshal(body, &e)
		if res.StatusCode != tc.status || e.Code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, res.StatusCode, body, tc.status, tc.code)
		}
	}
}

func TestHistoryEndpoint(t *testing.T) {
	forStores(t, func(t *testing.T, cfg chat.Config) {
		srv := chattest.Start(t, fast(cfg), nil)
		c := connect(t, srv, anon("h"))
		c.join("hist", nil)
		var ids []int64
		for i := range 7 {
			c.say("hist", "h"+itoa(int64(i)), "message "+itoa(int64(i)))
			ids = append(ids, c.waitType("ack").ID)
		}
		page := getMessages(t, srv.URL+"api/rooms/hist/messages?limit=3")
		if len(page) != 3 || page[2].ID != ids[6] || page[0].ID != ids[4] {
			t.Fatalf("latest page = %+v", page)
		}
		page = getMessages(t, srv.URL+"api/rooms/hist/messages?limit=3&before="+itoa(ids[4]))
		if len(page) != 3 || page[0].ID != ids[1] || page[2].ID != ids[3] {
			t.Fatalf("older page = %+v", page)
		}
		if got := getMessages(t, srv.URL+"api/rooms/empty/messages"); len(got) != 0 {
			t.Fatalf("empty room = %+v", got)
		}
		for _, q := range []string{"api/rooms/bad%20room/messages", "api/rooms/hist/messages?limit=x",
			"api/rooms/hist/messages?limit=0", "api/rooms/hist/messages?before=-1", "api/rooms/hist/messages?before=1e3"} {
			if res, _ := do(t, "GET", srv.URL+q, nil, nil); res.StatusCode != 400 {
				t.Errorf("GET %s: %d, want 400", q, res.StatusCode)
			}
		}
	})
}

// The embedded UI (chat/web) must at least have the page.
func TestEmbeddedUIServesThePage(t *testing.T) {
	srv := chattest.Start(t, chat.Config{}, nil)
	if res, body := do(t, "GET", srv.URL, nil, nil); res.StatusCode != 200 || len(body) == 0 {
		t.Fatalf("GET mount: %d", res.StatusCode)
	}
}
