#!/usr/bin/env bash
# Try edge's ACME flow locally against Debian's pebble (a test ACME server), with no
# internet and no real DNS: pebble-challtestsrv answers 127.0.0.1 for every name, pebble
# validates HTTP-01 / TLS-ALPN-01 on edge's loopback ports, edge obtains a certificate,
# and curl checks https://HOST/ against pebble's issuing root. See docs/tls.md.
#
#   scripts/try-acme-locally.sh                 # full flow with bin/edge (make build)
#   scripts/try-acme-locally.sh --edge /usr/local/bin/edge --host shop.localtest
#   scripts/try-acme-locally.sh --setup-only    # start pebble, write the config, wait
#
# Options: --edge BIN, --host NAME, --http-port N (5002), --https-port N (5001),
#          --pebble-port N (14000), --dns-port N (8053), --server-cmd CMD (run CMD
#          instead of "BIN run --config FILE"; the config path is appended),
#          --setup-only, --keep (leave the work directory).
set -euo pipefail

edge=bin/edge
host=edge.localtest
http_port=5002
https_port=5001
pebble_port=14000
dns_port=8053
server_cmd=""
setup_only=false
keep=false

die() { echo "try-acme-locally: $*" >&2; exit 1; }
say() { echo "== $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --edge) edge=$2; shift 2 ;;
    --host) host=$2; shift 2 ;;
    --http-port) http_port=$2; shift 2 ;;
    --https-port) https_port=$2; shift 2 ;;
    --pebble-port) pebble_port=$2; shift 2 ;;
    --dns-port) dns_port=$2; shift 2 ;;
    --server-cmd) server_cmd=$2; shift 2 ;;
    --setup-only) setup_only=true; shift ;;
    --keep) keep=true; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (try --help)" ;;
  esac
done
mgmt_port=$((pebble_port + 1000))
chall_mgmt_port=$((dns_port + 2))

# 1. Debian's pebble package (pebble + pebble-challtestsrv).
if ! command -v pebble >/dev/null || ! command -v pebble-challtestsrv >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian's pebble package"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble >/dev/null
  else
    die "pebble is not installed; run: sudo apt-get install -y pebble"
  fi
fi
for tool in openssl curl; do
  command -v "$tool" >/dev/null || die "$tool is needed (sudo apt-get install -y $tool)"
done
if [ -z "$server_cmd" ] && ! $setup_only; then
  [ -x "$edge" ] || die "no edge binary at $edge (run make build, or pass --edge BIN)"
fi

work=$(mktemp -d /tmp/edge-acme.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if $keep; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for DESCRIPTION SECONDS COMMAND...: retry COMMAND until it succeeds.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.3
  done
  echo "   $what: ok"
}

# 2. A private root and the ACME server's own HTTPS certificate (pebble's package
#    ships none). edge trusts this root through tls.ca_root.
say "work directory $work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=try-acme-locally root" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=localhost" -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$work/server.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/server.ext" -out "$work/server.pem" 2>/dev/null

# 3. DNS: every A query → 127.0.0.1, no AAAA (edge listens on IPv4 loopback).
pebble-challtestsrv -dns01 "127.0.0.1:$dns_port" -http01 "" -https01 "" -tlsalpn01 "" \
  -management "127.0.0.1:$chall_mgmt_port" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
  >"$work/challtestsrv.log" 2>&1 &
pids+=($!)

# 4. pebble, validating on edge's ports.
cat >"$work/pebble.json" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$pebble_port",
    "managementListenAddress": "127.0.0.1:$mgmt_port",
    "certificate": "$work/server.pem",
    "privateKey": "$work/server.key",
    "httpPort": $http_port,
    "tlsPort": $https_port,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
EOF
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
  pebble -config "$work/pebble.json" -dnsserver "127.0.0.1:$dns_port" >"$work/pebble.log" 2>&1 &
pids+=($!)
say "starting pebble on https://127.0.0.1:$pebble_port/dir"
wait_for "ACME directory" 30 curl -sf --cacert "$work/ca.pem" "https://127.0.0.1:$pebble_port/dir" ||
  { cat "$work/pebble.log" >&2; die "pebble did not start"; }
# pebble's issuing root: what a browser would have to trust to accept its certificates
wait_for "pebble issuing root" 10 curl -sf --cacert "$work/ca.pem" -o "$work/pebble-root.pem" \
  "https://127.0.0.1:$mgmt_port/roots/0" || die "cannot fetch pebble's root"

# 5. edge's config: one static site for $host on loopback ports.
mkdir -p "$work/www" "$work/state"
echo "hello from edge over ACME" >"$work/www/index.html"
cat >"$work/edge.yaml" <<EOF
state_dir: $work/state
admin_socket: $work/admin.sock
listen: { http: "127.0.0.1:$http_port", https: "127.0.0.1:$https_port" }
tls:
  email: ops@example.com
  ca: https://127.0.0.1:$pebble_port/dir
  ca_root: $work/ca.pem
  hsts: true
metrics: ""
sites:
  - hosts: [$host]
    routes:
      - { path: /, static: $work/www }
EOF
say "edge config: $work/edge.yaml"

if $setup_only; then
  cat <<EOF
pebble is running. In another terminal:
  $edge run --config $work/edge.yaml
  curl --resolve $host:$https_port:127.0.0.1 --cacert $work/pebble-root.pem https://$host:$https_port/
Press Ctrl-C (or send SIGTERM) to stop pebble; --keep leaves $work in place.
EOF
  wait "${pids[1]}"
  exit 0
fi

# 6. edge, then the checks.
if [ -n "$server_cmd" ]; then
  $server_cmd "$work/edge.yaml" >"$work/edge.log" 2>&1 &
else
  "$edge" run --config "$work/edge.yaml" >"$work/edge.log" 2>&1 &
fi
pids+=($!)
say "waiting for a certificate for $host"
url="https://$host:$https_port/"
if ! wait_for "verified HTTPS" 90 curl -sf --resolve "$host:$https_port:127.0.0.1" \
    --cacert "$work/pebble-root.pem" "$url"; then
  echo "--- edge log"; tail -n 40 "$work/edge.log"; echo "--- pebble log"; tail -n 20 "$work/pebble.log"
  die "no verified HTTPS at $url"
fi
body=$(curl -sf --resolve "$host:$https_port:127.0.0.1" --cacert "$work/pebble-root.pem" "$url")
echo "   body: $body"
echo | openssl s_client -connect "127.0.0.1:$https_port" -servername "$host" -alpn http/1.1 2>/dev/null |
  openssl x509 -noout -subject -issuer -enddate | sed 's/^/   /'
redirect=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' \
  --resolve "$host:$http_port:127.0.0.1" "http://$host:$http_port/some/path?q=1")
echo "   http://$host:$http_port/some/path?q=1 -> $redirect"
hsts=$(curl -sfI --resolve "$host:$https_port:127.0.0.1" --cacert "$work/pebble-root.pem" "$url" |
  tr -d '\r' | grep -i '^strict-transport-security:' || true)
echo "   ${hsts:-no Strict-Transport-Security header}"
if [ -n "$server_cmd" ] || [ "$(cut -d' ' -f1 <<<"$redirect")" = 308 ]; then
  say "ACME flow works: $host has a certificate from pebble"
else
  die "HTTPS works but http:// did not answer 308 (got $redirect)"
fi
