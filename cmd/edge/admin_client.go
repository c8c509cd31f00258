package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/edge-server/edge/internal/config"
	"github.com/edge-server/edge/proxy"
)

// socketFlags are the flags every verb that talks to the daemon takes.
type socketFlags struct {
	socket string
	config string
	// configSet is true when --config was given explicitly.
	configSet bool
}

func addSocketFlags(fs *flag.FlagSet) *socketFlags {
	sf := &socketFlags{}
	fs.StringVar(&sf.socket, "socket", "", "admin socket of the running edge (default: admin_socket from --config, else "+config.DefaultAdminSocket+")")
	fs.Func("config", "config file to read admin_socket from (default "+defaultConfigPath+" when it exists)", func(v string) error {
		sf.config, sf.configSet = v, true
		return nil
	})
	return sf
}

// resolve finds the admin socket: --socket, else admin_socket in --config (or in the
// default config file when it exists), else the default path.
func (sf *socketFlags) resolve() (string, error) {
	if sf.socket != "" {
		return sf.socket, nil
	}
	path := sf.config
	if !sf.configSet {
		path = defaultConfigPath
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return config.DefaultAdminSocket, nil
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %s to find admin_socket (%v); pass --socket PATH", path, unwrapPathError(err))
	}
	cfg, err := config.Parse(path, data, os.LookupEnv)
	if cfg == nil {
		return "", fmt.Errorf("cannot read admin_socket from %s: %v; pass --socket PATH", path, err)
	}
	if cfg.At.AdminSocket.Bad || cfg.AdminSocket == "" {
		return "", fmt.Errorf("admin_socket in %s is not usable; pass --socket PATH", path)
	}
	return cfg.AdminSocket, nil
}

// adminClient speaks the admin API over the unix socket.
type adminClient struct {
	socket string
	http   *http.Client
}

func newAdminClient(socket string) *adminClient {
	return &adminClient{socket: socket, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}}}
}

// call sends one request and decodes the JSON answer into out. Errors are single
// sentences meant for the terminal.
func (c *adminClient) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://edge"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return c.dialProblem(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("reading edge's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e proxy.AdminError
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("edge answered %s: %s", resp.Status, bytes.TrimSpace(data))
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = append((*raw)[:0], data...)
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("edge's answer is not the expected JSON: %w", err)
	}
	return nil
}

func (c *adminClient) dialProblem(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("edge is not running: nothing answers on %s (start it with 'edge run', or pass --socket/--config)", c.socket)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("permission denied on %s: run as root or as a member of the socket's group", c.socket)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("edge on %s did not answer in time", c.socket)
	}
	return fmt.Errorf("talking to edge on %s: %v", c.socket, err)
}

// statusTimeout bounds status calls; switches are bounded by the daemon (health
// timeout plus the app's drain period), so they get no client-side timeout.
const statusTimeout = 10 * time.Second
