package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeDirs says every path is a directory except those containing "nonexistent";
// files are read for real (tls.ca_root in testdata).
type fakeDirs struct{}

func (fakeDirs) IsDir(p string) error {
	if strings.Contains(p, "nonexistent") {
		return os.ErrNotExist
	}
	return nil
}

func (fakeDirs) ReadFile(p string) ([]byte, error) { return os.ReadFile(p) }

func loadTestConfig(t *testing.T, name string, env map[string]string) (*Config, Errors) {
	t.Helper()
	path := filepath.Join("testdata", "config", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := Check(path, data, lookup, fakeDirs{})
	var errs Errors
	if err != nil && !errors.As(err, &errs) {
		t.Fatalf("Check returned %T, want Errors: %v", err, err)
	}
	return cfg, errs
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		file string
		want []string // each "line: substring"; all must appear, and nothing else
	}{
		{"three_mistakes.yaml", []string{
			`7: apps.web.drain must be a positive duration`,
			`10: unknown key "colour" in sites[0]`,
			`12: route "/" points at app "api", which is not defined`,
		}},
		{"unknown_key.yaml", []string{`2: unknown key "colour" in the top level (known keys: access_log, admin_socket`}},
		{"bad_duration.yaml", []string{`5: apps.web.health.interval must be a positive duration such as 2s, 500ms or 1m, not "2"`}},
		{"unknown_app.yaml", []string{`4: route "/api/" points at app "missing", which is not defined under apps`}},
		{"duplicate_host.yaml", []string{`6: host "a.example.com" is already listed at line 4`}},
		{"bad_address.yaml", []string{
			`3: app "web" blue address "localhost" is not valid: want host:port`,
			`4: app "web" green address "127.0.0.1:99999" is not valid: port "99999" is not a number from 0 to 65535`,
		}},
		{"bad_listen.yaml", []string{`1: listen.http "80" is not a valid address`}},
		{"not_yaml.yaml", []string{`1: not valid YAML: did not find expected ',' or '}'`}},
		{"empty.yaml", []string{`the file is empty`}},
		{"two_documents.yaml", []string{`2: the file holds more than one YAML document`}},
		{"wrong_shape.yaml", []string{
			`1: apps must be a mapping of app names to their settings, not a list`,
			`2: sites must be a list, not a mapping`,
		}},
		{"route_two_targets.yaml", []string{
			`6: route "/" must have exactly one of app, chat: true, static or redirect`,
			`7: route path "api" must start with /`,
		}},
		{"bad_host.yaml", []string{
			`2: host "https://A.example.com/" is not a lowercase DNS name`,
		}},
		{"bad_values.yaml", []string{
			`1: tls.hsts must be true or false, not "maybe"`,
			`7: apps.web.health.rise must be a whole number of at least 1, not "0"`,
			`1: tls.ca must be letsencrypt, letsencrypt-staging or an ACME directory URL, not "lets-encrypt"`,
			`1: tls.email "nobody" is not an email address`,
			`6: app "web" has the same address 127.0.0.1:3000 for blue and green`,
			`7: app "web" health path "health" must start with /`,
			`2: chat.nickname_locale must be ko or en, not "fr"`,
			`2: chat origin "blog.example.com" must be scheme://host[:port]`,
		}},
		{"bad_ca_root.yaml", []string{`3: tls.ca_root "testdata/config/bad_ca_root.yaml" holds no PEM certificate`}},
		{"wildcard_https.yaml", []string{`3: host "*.example.com" is a wildcard; its certificate would need the DNS-01 challenge`}},
		{"chat_limits.yaml", []string{
			`2: chat.max_conns_per_ip must be a whole number of at least 1, not "0"`,
			`3: chat.message_rate must be a whole number of at least 1, not "fast"`,
		}},
		{"bad_replicas.yaml", []string{
			`3: app "web" has no blue address (an empty list counts as none)`,
			`4: app "web" lists 127.0.0.1:4000 twice for green; each replica once`,
			`9: app "api" has the same address 127.0.0.1:6000 for blue and green`,
		}},
		{"chat_filter.yaml", []string{
			`6: unknown key "colour" in chat.filter (known keys: action, patterns, words)`,
			`5: chat.filter pattern "(unclosed": error parsing regexp: missing closing ): ` + "`(unclosed`",
		}},
		{"two_chat_mounts.yaml", []string{`7: chat is mounted at 2 different paths`}},
		{"bad_cluster.yaml", []string{
			`2: cluster.name "edge 1" must be 1 to 63 letters, digits, '.', '-' or '_'`,
			`3: cluster.heartbeat 10ms must be between 100ms and 1m0s`,
			`2: cluster: needs database_url (the fleet's Postgres, which may be chat.database_url); remove the section to run alone`,
		}},
		{"bad_env.yaml", []string{
			`1: state_dir: "1BAD" is not a valid environment variable name`,
			`2: admin_socket: unterminated ${`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, errs := loadTestConfig(t, tt.file, nil)
			got := errs.Error()
			if len(errs) != len(tt.want) {
				t.Errorf("got %d errors, want %d:\n%s", len(errs), len(tt.want), got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, "testdata/config/"+tt.file+":"+w) && !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
		})
	}
}

func TestConfigCluster(t *testing.T) {
	cfg, errs := loadTestConfig(t, "cluster.yaml", map[string]string{"DATABASE_URL": "postgres://db/edge"})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	want := Cluster{DatabaseURL: "postgres://db/edge", Name: "edge-2", Heartbeat: 500 * time.Millisecond}
	if cfg.Cluster != want {
		t.Errorf("cluster = %+v, want %+v", cfg.Cluster, want)
	}
	if cfg, _ := loadTestConfig(t, "three_mistakes.yaml", nil); cfg.Cluster != (Cluster{}) {
		t.Errorf("without cluster: the section is %+v, want off", cfg.Cluster)
	}
}

func TestConfigWarnsAboutMissingStaticDir(t *testing.T) {
	cfg, _ := loadTestConfig(t, "bad_host.yaml", nil)
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].Error(), `bad_host.yaml:3: static directory "/nonexistent-edge-dir" cannot be used yet`) {
		t.Errorf("warnings = %v", cfg.Warnings)
	}
}

func TestConfigEnvExpansion(t *testing.T) {
	cfg, errs := loadTestConfig(t, "env.yaml", map[string]string{"EDGE_TEST_HTTP": "127.0.0.1:0", "EDGE_TEST_DB": "postgres://u@h/db"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if cfg.StateDir != "/var/lib/edge-default" || cfg.Proxy.HTTPAddr != "127.0.0.1:0" || cfg.Chat.DatabaseURL != "postgres://u@h/db" {
		t.Errorf("expansion wrong: state_dir=%q http=%q db=%q", cfg.StateDir, cfg.Proxy.HTTPAddr, cfg.Chat.DatabaseURL)
	}
	if string(cfg.Chat.Secret) != "pa$word-$x" {
		t.Errorf("secret = %q, want pa$word-$x", cfg.Chat.Secret)
	}
}

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"A": "1", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tt := range []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"${A}", "1", ""},
		{"x${A}y${A}", "x1y1", ""},
		{"${UNSET}", "", ""},
		{"${UNSET:-d}", "d", ""},
		{"${EMPTY:-d}", "d", ""},
		{"${A:-d}", "1", ""},
		{"$$", "$", ""},
		{"$A", "$A", ""},
		{"end$", "end$", ""},
		{"${", "", "unterminated"},
		{"${}", "", "not a valid"},
		{"${A-B}", "", "not a valid"},
	} {
		got, err := expandEnv(tt.in, lookup)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("expandEnv(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("expandEnv(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestConfigReplicasAndHealthDefaults: a color is one address or a list; a health
// timeout the file does not write is min(1s, interval), and one longer than the
// interval is the user's choice.
func TestConfigReplicasAndHealthDefaults(t *testing.T) {
	cfg, errs := loadTestConfig(t, "replicas.yaml", nil)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	web, api := cfg.Proxy.Apps[0], cfg.Proxy.Apps[1]
	if strings.Join(web.Blue, ",") != "127.0.0.1:3000,127.0.0.1:3001" || strings.Join(web.Green, ",") != "127.0.0.1:4000" {
		t.Fatalf("web replicas %v %v", web.Blue, web.Green)
	}
	if web.Health.Interval != 500*time.Millisecond || web.Health.Timeout != 500*time.Millisecond {
		t.Fatalf("web health %+v, want timeout = interval = 500ms", web.Health)
	}
	if api.Health.Interval != time.Second || api.Health.Timeout != 5*time.Second {
		t.Fatalf("api health %+v, want the written 5s timeout", api.Health)
	}
	if d := Default("x"); len(d.Proxy.Apps) != 0 {
		t.Fatal("default config has apps")
	}
}
