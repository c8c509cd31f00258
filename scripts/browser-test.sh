#!/usr/bin/env bash
# Runs the chat UI browser tests (e2e/*.spec.mjs, node:test + playwright-core + Debian Chromium)
# against a running edge chat.
#   EDGE_CHAT_URL   the chat mount, e.g. http://127.0.0.1:8080/chat/   (required)
#   EDGE_BLOG_ADDR  host:port for the second-origin sample blog page (default 127.0.0.1:<free port>);
#                   list http://EDGE_BLOG_ADDR in chat.origins if the chat restricts framing.
# Extra arguments are passed to `node --test` (e.g. --test-name-pattern=widget).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${EDGE_CHAT_URL:?set EDGE_CHAT_URL to the chat mount, e.g. http://127.0.0.1:8080/chat/}"
bash scripts/browser-prereqs.sh
cd e2e
exec node --test --test-concurrency=1 "$@" chat.spec.mjs widget.spec.mjs
