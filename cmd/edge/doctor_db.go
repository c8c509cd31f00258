package main

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// checkDatabase connects to chat.database_url and checks the chat's schema is there
// (table messages; the chat package creates it on start).
func (d *doctor) checkDatabase(ctx context.Context) {
	if !d.cfg.ChatEnabled {
		d.pass("database: no chat route, so no database is needed")
		return
	}
	dsn := d.cfg.Chat.DatabaseURL
	if dsn == "" {
		d.fail("chat.database_url is empty: chat messages live in memory and are lost on every restart",
			"set chat.database_url: ${DATABASE_URL} and DATABASE_URL=postgres://… in "+defaultEnvFile+" (mode 0600)")
		return
	}
	shown := redactDSN(dsn)
	cctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	conn, err := pgx.Connect(cctx, dsn)
	if err != nil {
		d.fail(fmt.Sprintf("Postgres %s is not reachable: %s", shown, oneLine(redactDSN(err.Error()))),
			"check DATABASE_URL in "+defaultEnvFile+", that Postgres runs (systemctl status postgresql) and accepts this user (pg_hba.conf)")
		return
	}
	defer conn.Close(context.Background())
	var version string
	var migrated bool
	err = conn.QueryRow(cctx, `SELECT split_part(current_setting('server_version'), ' ', 1), to_regclass('messages') IS NOT NULL`).Scan(&version, &migrated)
	if err != nil {
		d.fail(fmt.Sprintf("Postgres %s: checking the schema failed: %v", shown, err), "check the user's rights on the database")
		return
	}
	if !migrated {
		d.fail(fmt.Sprintf("Postgres %s (version %s) is reachable but has no table messages: the chat schema is not installed", shown, version),
			"edge creates it at start: sudo systemctl restart edge, then journalctl -u edge | grep -i migrat; the user needs CREATE on the schema")
		return
	}
	d.pass(fmt.Sprintf("Postgres %s (version %s) is reachable and has the chat schema", shown, version))
}

var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|\S+)`)

// redactDSN hides the password of a URL or key=value connection string.
func redactDSN(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.User != nil {
		return u.Redacted()
	}
	return dsnPassword.ReplaceAllString(s, "${1}xxxxx")
}

// oneLine folds a multi-line error (pgx lists every address it tried) into one line,
// dropping repeated parts.
func oneLine(s string) string {
	var parts []string
	seen := map[string]bool{}
	for _, p := range strings.Split(s, "\n") {
		p = strings.TrimSpace(p)
		if p != "" && !seen[p] {
			seen[p] = true
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}
