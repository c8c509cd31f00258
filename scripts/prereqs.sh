#!/usr/bin/env bash
# Installs what `make test` needs on Debian when it can (as root), or stops naming the
# exact command to run. Nothing is skipped: a missing tool is an error.
set -euo pipefail

need_pkgs=()
pg_ok=false
for d in /usr/lib/postgresql/*/bin; do
  [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && pg_ok=true
done
$pg_ok || need_pkgs+=(postgresql)
# systemd-analyze verify (unit files) and systemd-socket-activate (restart tests).
for tool in systemd-analyze systemd-socket-activate; do
  command -v "$tool" >/dev/null || { need_pkgs+=(systemd); break; }
done
# systemd-nspawn boots a real systemd for cmd/edge TestSystemdInNspawn.
command -v systemd-nspawn >/dev/null || need_pkgs+=(systemd-container)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "prereqs: installing ${need_pkgs[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  else
    echo "prereqs: missing ${need_pkgs[*]}; run: sudo apt-get install -y ${need_pkgs[*]}" >&2
    exit 1
  fi
fi
# Debian's postgresql package may start a cluster of its own; tests use a private one.
echo "prereqs: ok (PostgreSQL: $(ls -d /usr/lib/postgresql/*/bin | tail -1))"
# The browser tests (cmd/edge TestBrowserChatThroughEdge) need Debian Chromium and
# playwright-core from npm; this installs them or names the command.
bash "$(dirname "$0")/browser-prereqs.sh"
