package cluster

import "github.com/edge-server/edge/internal/pgschema"

// notifyChannel carries "check <id>" (probe requests), "color <app>" (a committed
// switch) and "presence <instance> <room>" (a chat room's count changed) to every
// instance.
const notifyChannel = "edge_fleet"

var schema = pgschema.Schema{Component: "cluster", Steps: []string{`
CREATE TABLE edge_instances (
	name       TEXT PRIMARY KEY,
	version    TEXT NOT NULL,
	started_at TIMESTAMPTZ NOT NULL,
	last_seen  TIMESTAMPTZ NOT NULL,
	report     JSONB NOT NULL DEFAULT '{}'
);
CREATE TABLE edge_fleet_apps (
	app        TEXT PRIMARY KEY,
	active     TEXT NOT NULL CHECK (active IN ('blue', 'green')),
	previous   TEXT CHECK (previous IN ('blue', 'green')),
	weight     INT NOT NULL DEFAULT 0,
	version    BIGINT NOT NULL DEFAULT 1,
	changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
	changed_by TEXT NOT NULL
);
CREATE TABLE edge_fleet_checks (
	id         BIGSERIAL PRIMARY KEY,
	app        TEXT NOT NULL,
	color      TEXT NOT NULL,
	timeout_ms INT NOT NULL,
	asked_by   TEXT NOT NULL,
	asked_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE edge_fleet_check_results (
	check_id BIGINT NOT NULL REFERENCES edge_fleet_checks (id) ON DELETE CASCADE,
	instance TEXT NOT NULL,
	ok       BOOLEAN NOT NULL,
	reason   TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (check_id, instance)
);
CREATE TABLE edge_fleet_applied (
	app        TEXT NOT NULL,
	version    BIGINT NOT NULL,
	instance   TEXT NOT NULL,
	color      TEXT NOT NULL,
	flipped_at TIMESTAMPTZ,
	done_at    TIMESTAMPTZ,
	message    TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (app, version, instance)
);
CREATE TABLE edge_fleet_secrets (
	name       TEXT PRIMARY KEY,
	value      BYTEA NOT NULL,
	created_by TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);`, `
CREATE TABLE edge_chat_presence (
	instance   TEXT NOT NULL,
	room       TEXT NOT NULL,
	online     INT NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (room, instance)
);
CREATE INDEX edge_chat_presence_instance ON edge_chat_presence (instance);`}}
