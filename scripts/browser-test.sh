#!/usr/bin/env bash
# Runs the chat UI browser tests (e2e/*.spec.mjs, node:test + playwright-core + Debian Chromium)
# against a running edge chat.
#   EDGE_CHAT_URL   the chat mount, e.g. http://127.0.0.1:8080/chat/   (required)
#   EDGE_BLOG_ADDR  host:port for the second-origin sample blog page (default 127.0.0.1:<free port>);
#                   list http://EDGE_BLOG_ADDR in chat.origins if the chat restricts framing.
#   EDGE_CHAT_URL_ALT  optional, comma separated: more chat mounts whose UI language is checked
#                   (e.g. a second server with the other nickname_locale).
#   EDGE_DB_CONTROL_URL  optional: GET {url}/stop and {url}/start stop/start the chat's database;
#                   when set, e2e/outage.spec.mjs (send during an outage) runs too.
#   EDGE_ADMIN_SOCKET  optional: the edge's admin unix socket; when set, e2e/moderation.spec.mjs
#                   (delete → placeholder, ban notice) runs too.
# Extra arguments are passed to `node --test` (e.g. --test-name-pattern=widget).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${EDGE_CHAT_URL:?set EDGE_CHAT_URL to the chat mount, e.g. http://127.0.0.1:8080/chat/}"
bash scripts/browser-prereqs.sh
cd e2e
specs=(chat.spec.mjs widget.spec.mjs)
if [ -n "${EDGE_DB_CONTROL_URL:-}" ]; then specs+=(outage.spec.mjs); fi
if [ -n "${EDGE_ADMIN_SOCKET:-}" ]; then specs+=(moderation.spec.mjs); fi
exec node --test --test-concurrency=1 "$@" "${specs[@]}"
