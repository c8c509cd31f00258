package pebbletest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"

	"github.com/letsencrypt/pebble/v2/wfe"
)

// orderLog counts the orders pebble created (newOrder requests it answered 201) and
// remembers their identifiers, and the statuses of the ones it refused.
type orderLog struct {
	mu       sync.Mutex
	n        int
	idents   []string
	rejected []int // statuses of newOrder requests pebble refused
}

func (o *orderLog) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

func (o *orderLog) names() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.idents...)
}

// wrap returns h with newOrder requests counted. The newOrder path is read from
// pebble's own directory rather than assumed.
func (o *orderLog) wrap(h http.Handler) (http.Handler, error) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "https://127.0.0.1"+wfe.DirectoryPath, nil)
	req.Header.Set("User-Agent", "pebbletest")
	h.ServeHTTP(rec, req)
	var dir struct {
		NewOrder string `json:"newOrder"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &dir); err != nil || dir.NewOrder == "" {
		return nil, fmt.Errorf("reading pebble's directory (status %d, %q): %v", rec.Code, rec.Body.String(), err)
	}
	u, err := url.Parse(dir.NewOrder)
	if err != nil {
		return nil, fmt.Errorf("pebble's newOrder URL %q: %v", dir.NewOrder, err)
	}
	newOrderPath := u.Path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != newOrderPath {
			h.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		// Only orders pebble created count: a request it refused (a bad nonce the
		// client retries, say) made no order.
		if sw.status == http.StatusCreated {
			o.record(orderIdentifiers(body))
		} else {
			o.reject(sw.status)
		}
	}), nil
}

// statusWriter remembers the status pebble answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (o *orderLog) reject(status int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rejected = append(o.rejected, status)
}

func (o *orderLog) record(idents []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n++
	o.idents = append(o.idents, idents...)
}

// orderIdentifiers pulls the identifier values out of a JWS-wrapped newOrder body;
// malformed bodies give none (pebble rejects them anyway).
func orderIdentifiers(body []byte) []string {
	var jws struct {
		Payload string `json:"payload"`
	}
	if json.Unmarshal(body, &jws) != nil {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(jws.Payload)
	if err != nil {
		return nil
	}
	var order struct {
		Identifiers []struct {
			Value string `json:"value"`
		} `json:"identifiers"`
	}
	if json.Unmarshal(payload, &order) != nil {
		return nil
	}
	out := make([]string, 0, len(order.Identifiers))
	for _, id := range order.Identifiers {
		out = append(out, id.Value)
	}
	return out
}
