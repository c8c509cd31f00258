#!/usr/bin/env bash
# Compression of proxied responses: edge (compress: true) against nginx `gzip on`, on the
# same 32 KiB HTML page from bench/upstream (…/page), each proxy pinned to one core.
# Reports, per proxy and coding: compressed size and ratio (curl), requests/s and the
# proxy's CPU per response (utime+stime over a wrk run / requests), with and without
# compression, so the difference is what compressing costs.
#
#   bash bench/compress.sh            10 s per run     BENCH_DURATION=3 for a quick look
#   BENCH_CONNS [16]  BENCH_EDGE [bin/edge]  BENCH_OUT [bench/results]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
DURATION=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNS:-16}
OUT=${BENCH_OUT:-bench/results}
EDGE_BIN=${BENCH_EDGE:-bin/edge}
BENCH_PIN=${BENCH_PIN:-$([ "$(nproc)" -ge 2 ] && echo 1 || echo 0)}
PROXY_CPU=${BENCH_PROXY_CPU:-1}
LOAD_CPU=${BENCH_LOAD_CPU:-0}
for c in nginx wrk curl; do command -v $c >/dev/null || die "$c is not installed (apt-get install nginx-light wrk curl)"; done
[ -x "$EDGE_BIN" ] || die "$EDGE_BIN is missing: run make build"
WORK=$(mktemp -d /tmp/edge-compress.XXXXXX)
declare -A PID
trap stop_all EXIT
HZ=$(getconf CLK_TCK)

(cd bench && go build -o "$WORK/upstream" ./upstream)
next_port; UP=$NEXT_PORT
pinned "$LOAD_CPU" "$WORK/upstream" -listen "127.0.0.1:$UP" -names blue
"${PINNED[@]}" >"$WORK/upstream.log" 2>&1 &
PID[upstream]=$!
wait_http "http://127.0.0.1:$UP/health" 10 || die "upstream did not start"

next_port; EDGE_PORT=$NEXT_PORT
next_port; GREEN=$NEXT_PORT # never answers: edge needs two colors
cat >"$WORK/edge.yaml" <<YAML
state_dir: $WORK/edge-state
admin_socket: $WORK/edge.sock
metrics: ""
access_log: false
listen: { http: "127.0.0.1:$EDGE_PORT", https: "" }
apps:
  web: { blue: "127.0.0.1:$UP", green: "127.0.0.1:$GREEN" }
sites:
  - hosts: [localhost, 127.0.0.1]
    routes:
      - { path: /, app: web, compress: true }
YAML
"$EDGE_BIN" validate --config "$WORK/edge.yaml" >/dev/null
GOMAXPROCS=1 pinned "$PROXY_CPU" "$EDGE_BIN" run --config "$WORK/edge.yaml"
GOMAXPROCS=1 "${PINNED[@]}" >"$WORK/edge.log" 2>&1 &
PID[edge]=$!
wait_http "http://127.0.0.1:$EDGE_PORT/page" 20 || die "edge did not start: $(tail -3 "$WORK/edge.log")"

# nginx twice: its default gzip_comp_level 1, and level 5 (edge's gzip level).
start_nginx_gzip() {
  local name=$1 level=$2 port=$3 d=$WORK/$1
  mkdir -p "$d/tmp"
  cat >"$d/nginx.conf" <<CONF
user root;
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $d/tmp/body; proxy_temp_path $d/tmp/proxy; fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi; scgi_temp_path $d/tmp/scgi;
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  gzip on; gzip_comp_level $level; gzip_proxied any; gzip_vary on; gzip_min_length 1024;
  gzip_types text/plain application/json application/javascript text/css image/svg+xml;
  server {
    listen 127.0.0.1:$port;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
  pinned "$PROXY_CPU" nginx -c "$d/nginx.conf"
  "${PINNED[@]}" >"$d/out.log" 2>&1 &
  PID[$name]=$!
  wait_http "http://127.0.0.1:$port/page" 10 || die "$name did not start: $(cat "$d/error.log")"
}
next_port; NGINX1=$NEXT_PORT; start_nginx_gzip nginx-gzip1 1 "$NGINX1"
next_port; NGINX5=$NEXT_PORT; start_nginx_gzip nginx-gzip5 5 "$NGINX5"

ORIG=$(curl -fsS "http://127.0.0.1:$UP/page" | wc -c)
rows=()
# measure NAME PORT CODING: one row of the table.
measure() {
  local name=$1 port=$2 enc=$3 size hdr=() t0 t1 reqs rps
  [ "$enc" != identity ] && hdr=(-H "Accept-Encoding: $enc")
  size=$(curl -fsS "${hdr[@]}" -o - "http://127.0.0.1:$port/page" | wc -c)
  got=$(curl -fsS "${hdr[@]}" -o /dev/null -D - "http://127.0.0.1:$port/page" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-encoding"{print $2}')
  t0=$(cpu_ticks "${PID[$name]}")
  pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "${hdr[@]}" --latency "http://127.0.0.1:$port/page" >"$WORK/wrk-$name-$enc.txt"
  t1=$(cpu_ticks "${PID[$name]}")
  reqs=$(awk '/requests in/ {print $1}' "$WORK/wrk-$name-$enc.txt")
  rps=$(awk '/Requests\/sec/ {printf "%d", $2}' "$WORK/wrk-$name-$enc.txt")
  local us=$(( (t1 - t0) * 1000000 / HZ / (reqs > 0 ? reqs : 1) ))
  rows+=("| $name | $enc (${got:-identity}) | $size | $(awk -v o="$ORIG" -v s="$size" 'BEGIN{printf "%.2f", o/s}') | $rps | $us |")
}
for enc in identity gzip br zstd; do measure edge "$EDGE_PORT" $enc; done
for enc in identity gzip; do measure nginx-gzip1 "$NGINX1" $enc; done
for enc in identity gzip; do measure nginx-gzip5 "$NGINX5" $enc; done

mkdir -p "$OUT"
{
  echo "Compression of a ${ORIG}-byte HTML page through each proxy (one core each; wrk -c$CONNS, ${DURATION}s per row; $(nproc) cores, $(date -u +%F))."
  echo
  echo "| proxy | Accept-Encoding (sent back) | bytes | ratio | requests/s | proxy CPU µs per response |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$OUT/compress.md"
