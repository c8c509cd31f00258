package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/edge-server/edge/internal/config"
)

// opsDaemonSocket finds the running daemon's admin socket the way DESIGN.md says:
// --socket, else admin_socket in --config, else /run/edge/admin.sock. A config that does
// not validate still yields its admin_socket when the YAML can be read at all, so
// `edge reload` can report a broken config instead of failing to find the daemon.
func opsDaemonSocket(socketFlag, configPath string) string {
	if socketFlag != "" {
		return socketFlag
	}
	if configPath != "" {
		if data, err := os.ReadFile(configPath); err == nil && len(data) <= config.MaxBytes {
			cfg, _ := config.Parse(configPath, data, os.LookupEnv)
			if cfg != nil && cfg.AdminSocket != "" {
				return cfg.AdminSocket
			}
			if cfg == nil { // not YAML at all: a typo must not hide the daemon (issue 14)
				if sock := config.ScanAdminSocket(data, os.LookupEnv); sock != "" {
					return sock
				}
			}
		}
	}
	return config.DefaultAdminSocket
}

// opsAdminReply is one answer of the admin API.
type opsAdminReply struct {
	Status int
	Body   []byte
}

// maxAdminReply bounds what the CLI reads from the socket.
const maxAdminReply = 4 << 20

// opsAdminCall does one HTTP request over the admin unix socket.
func opsAdminCall(ctx context.Context, socket, method, path string, body io.Reader) (opsAdminReply, error) {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, method, "http://edge"+path, body)
	if err != nil {
		return opsAdminReply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return opsAdminReply{}, explainSocketError(socket, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminReply))
	if err != nil {
		return opsAdminReply{}, fmt.Errorf("reading the answer from %s: %w", socket, err)
	}
	return opsAdminReply{Status: resp.StatusCode, Body: b}, nil
}

// explainSocketError turns dial errors into the sentence an operator needs.
func explainSocketError(socket string, err error) error {
	s := err.Error()
	switch {
	case strings.Contains(s, "no such file or directory"):
		return fmt.Errorf("edge is not running: no admin socket at %s (start it with: sudo systemctl start edge)", socket)
	case strings.Contains(s, "connection refused"):
		return fmt.Errorf("edge is not running: nothing answers on %s (a stale socket from a stopped edge?)", socket)
	case strings.Contains(s, "permission denied"):
		return fmt.Errorf("no permission to use %s: run as root or join group edge (sudo usermod -aG edge $USER, then log in again)", socket)
	case strings.Contains(s, "deadline exceeded") || strings.Contains(s, "Timeout"):
		return fmt.Errorf("edge did not answer on %s in time", socket)
	}
	return fmt.Errorf("talking to edge on %s: %w", socket, err)
}

// maxAdminMessage bounds the sentence printed from an answer.
const maxAdminMessage = 4 << 10

// adminMessage extracts the human sentence from an admin API answer, whatever its shape:
// {"error":"…"}, {"error":{"code","message"}}, {"message":"…"}, or plain text.
func adminMessage(body []byte) string {
	s := adminMessageFull(body)
	if len(s) > maxAdminMessage {
		s = s[:maxAdminMessage] + "… (cut)"
	}
	return s
}

func adminMessageFull(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Status  string          `json:"status"`
	}
	if json.Unmarshal(body, &v) == nil {
		var s string
		var obj struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		switch {
		case len(v.Error) > 0 && json.Unmarshal(v.Error, &s) == nil && s != "":
			return s
		case len(v.Error) > 0 && json.Unmarshal(v.Error, &obj) == nil && obj.Message != "":
			return obj.Message
		case v.Message != "":
			return v.Message
		case v.Status != "":
			return v.Status
		}
	}
	return strings.TrimSpace(string(body))
}

// adminTimeout is how long CLI verbs wait for the daemon by default.
const adminTimeout = 30 * time.Second
