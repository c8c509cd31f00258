#!/usr/bin/env bash
# edge benchmark suite: the same upstream behind edge, nginx, HAProxy and Caddy on
# loopback, each proxy limited to one core, measured with wrk in one interleaved run.
#
#   bash bench/run.sh                 full run: 3 rounds × 10 s per scenario and peer
#   BENCH_QUICK=1 bash bench/run.sh   smoke test: 1 round × 2 s, results under bench/results/tmp/
#
# Environment (defaults in brackets):
#   BENCH_DURATION [10]  seconds per measured wrk run     BENCH_ROUNDS [3]  measured rounds
#   BENCH_WARMUP   [3]   seconds of warm-up per scenario/peer before round 1 (0: none)
#   BENCH_CONNS    [64]  wrk connections                   BENCH_THREADS [1] wrk threads
#   BENCH_PEERS    [edge nginx haproxy caddy]              BENCH_SCENARIOS [all, comma-separated]
#   BENCH_PROXY_CPU [1]  core the proxies are pinned to    BENCH_LOAD_CPU [0] core for wrk + upstream
#   BENCH_PIN      [1 when nproc ≥ 2]  use taskset          BENCH_OUT [bench/results]
#   BENCH_EDGE     [bin/edge]                              BENCH_KEEP [0] keep the temp dir
#   BENCH_DOCS     [docs/benchmarks.md; none in quick mode] Markdown file whose marked
#                  machine/results sections are replaced with this run's tables
#   BENCH_UPSTREAM [go]  go: bench/upstream; nginx: nginx as the app (Date, Server,
#                  Content-Type; closes each kept-alive connection after 1,000 requests)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/prologue.sh

if [ "${BENCH_QUICK:-0}" = 1 ]; then
  : "${BENCH_DURATION:=2}" "${BENCH_ROUNDS:=1}" "${BENCH_WARMUP:=1}"
  : "${BENCH_OUT:=bench/results/tmp/quick}"
  : "${BENCH_DOCS:=none}"
fi
DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-3}
WARMUP=${BENCH_WARMUP:-3}
CONNS=${BENCH_CONNS:-64}
THREADS=${BENCH_THREADS:-1}
DOCS=${BENCH_DOCS:-docs/benchmarks.md}
read -r -a PEERS <<<"${BENCH_PEERS:-edge nginx haproxy caddy}"
ALL_SCENARIOS="proxy-small,proxy-100k,static-1k,static-100k,https-small,close-small"
IFS=, read -r -a SCENARIOS <<<"${BENCH_SCENARIOS:-$ALL_SCENARIOS}"
bench_settings
[ "$BENCH_PIN" = 1 ] || say "warning: CPU pinning is off; proxies and load share all cores"

command -v go >/dev/null || die "go is needed to build the upstream and report tools"
need_packages nginx:nginx haproxy:haproxy caddy:caddy wrk:wrk pebble:pebble \
  openssl:openssl curl:curl taskset:util-linux ss:iproute2
stop_system_services

bench_workdir bench

say "building the upstream and report tools"
(cd bench && go build -o "$WORK/bin/" ./upstream ./report ./chart) || die "building bench tools failed"
gen_certs
gen_static
machine_info "$WORK/machine.txt"

start_upstream

for peer in "${PEERS[@]}"; do
  case $peer in
    edge) start_edge || true; start_edge_tls || true ;;
    nginx) start_nginx || true ;;
    haproxy) start_haproxy || true ;;
    caddy) start_caddy || true ;;
    *) die "unknown peer $peer (edge, nginx, haproxy, caddy)" ;;
  esac
done

# Record which TLS version and cipher each peer negotiates with an OpenSSL client.
for peer in "${PEERS[@]}"; do
  inst=$peer
  [ "$peer" = edge ] && inst=edge-tls
  [ "${STATUS[$inst]:-}" = ok ] || continue
  c=$(openssl s_client -connect "127.0.0.1:${HTTPS_PORT[$inst]}" -servername localhost </dev/null 2>/dev/null |
    awk '/^New, / {print $2, $NF}' | head -1)
  echo "tls_$peer=${c:-unknown}" >>"$WORK/machine.txt"
done

# target SCENARIO PEER: sets T_URL, T_PID, T_ARGS (extra wrk arguments), or T_SKIP
# ("n/a: …" / "not runnable: …") when the peer has no row to measure.
target() {
  local sc=$1 peer=$2 inst=$2 path
  T_SKIP="" T_ARGS=()
  case $sc in
    proxy-small | close-small | https-small) path=/up/small ;;
    proxy-100k) path=/up/big ;;
    static-1k) path=/1k.bin ;;
    static-100k) path=/100k.bin ;;
    *) die "unknown scenario $sc ($ALL_SCENARIOS)" ;;
  esac
  [ "$sc" = close-small ] && T_ARGS=(-H "Connection: close")
  if [ "$peer" = haproxy ] && [[ $sc == static-* ]]; then
    T_SKIP="n/a: HAProxy is not a file server"
    return
  fi
  [ "$peer" = edge ] && [ "$sc" = https-small ] && inst=edge-tls
  if [ "${STATUS[$inst]:-}" != ok ]; then
    T_SKIP="not runnable: ${STATUS[$inst]:-not started}"
    return
  fi
  T_PID=${PID[$inst]}
  if [ "$sc" = https-small ]; then
    T_URL="https://localhost:${HTTPS_PORT[$inst]}$path"
  else
    T_URL="http://127.0.0.1:${HTTP_PORT[$inst]}$path"
  fi
}

RAW=$WORK/raw.jsonl
: >"$RAW"
TCK=$(getconf CLK_TCK)
first=1
[ "$WARMUP" -gt 0 ] && first=0
runs=0
for sc in "${SCENARIOS[@]}"; do for peer in "${PEERS[@]}"; do
  target "$sc" "$peer"
  [ -z "$T_SKIP" ] && runs=$((runs + 1))
done; done
say "$runs runs per round; ${ROUNDS} × ${DURATION}s measured, ${WARMUP}s warm-up each; about $(((runs * (ROUNDS * DURATION + WARMUP + 1)) / 60 + 1)) min"

for round in $(seq "$first" "$ROUNDS"); do
  for sc in "${SCENARIOS[@]}"; do
    # Rotate the peer order each round so no peer always runs right after another.
    n=${#PEERS[@]}
    for i in $(seq 0 $((n - 1))); do
      peer=${PEERS[$(((i + round) % n))]}
      target "$sc" "$peer"
      if [ -n "$T_SKIP" ]; then
        if [ "$round" = 1 ]; then
          printf '{"scenario":"%s","peer":"%s","status":"%s","reason":%s}\n' "$sc" "$peer" \
            "${T_SKIP%%:*}" "$(json_str "${T_SKIP#*: }")" >>"$RAW"
        fi
        continue
      fi
      dur=$DURATION
      [ "$round" = 0 ] && dur=$WARMUP
      alive "$T_PID" || { say "$peer died during the run"; }
      c0=$(cpu_ticks "$T_PID")
      b0=$(core_busy "$PROXY_CPU")
      w0=$(date +%s%N)
      out=$(pin "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNS" -d"${dur}s" --timeout 5s \
        -s bench/wrk/report.lua "${T_ARGS[@]}" "$T_URL" 2>&1) || true
      w1=$(date +%s%N)
      c1=$(cpu_ticks "$T_PID")
      b1=$(core_busy "$PROXY_CPU")
      [ "$round" = 0 ] && continue
      res=$(printf '%s\n' "$out" | sed -n 's/^BENCHJSON //p' | tail -1)
      if [ -z "$res" ]; then
        printf '{"scenario":"%s","peer":"%s","round":%d,"status":"failed","reason":%s}\n' "$sc" "$peer" \
          "$round" "$(json_str "wrk: $(printf '%s' "$out" | tail -n 3)")" >>"$RAW"
        say "$sc $peer round $round: wrk failed"
        continue
      fi
      # Shares of one core over the wall time wrk ran (which can exceed -d on a busy box).
      wall=$(((w1 - w0) / 1000000))
      cpu=$(awk -v t=$((c1 - c0)) -v hz="$TCK" -v ms="$wall" 'BEGIN {printf "%.3f", t / hz / (ms / 1000)}')
      other=$(awk -v t=$((b1 - b0 - (c1 - c0))) -v hz="$TCK" -v ms="$wall" 'BEGIN {v = t / hz / (ms / 1000); if (v < 0) v = 0; if (v > 1) v = 1; printf "%.3f", v}')
      printf '{"scenario":"%s","peer":"%s","round":%d,"status":"ok","cpu":%s,"cpu_ms":%d,"wall_ms":%d,"core_other":%s,"rss_kib":%d,"wrk":%s}\n' \
        "$sc" "$peer" "$round" "$cpu" $(((c1 - c0) * 1000 / TCK)) "$wall" "$other" "$(rss_kib "$T_PID")" "$res" >>"$RAW"
      rps=$(printf '%s' "$res" | awk -F'[:,]' '{printf "%.0f", $2 / ($4 / 1e6)}')
      say "round $round $sc $peer: $rps req/s, proxy CPU $cpu, others on its core $other"
    done
  done
done
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/machine.txt"
{
  echo "duration_s=$DURATION"
  echo "rounds=$ROUNDS"
  echo "warmup_s=$WARMUP"
  echo "wrk_connections=$CONNS"
  echo "wrk_threads=$THREADS"
  echo "upstream=${BENCH_UPSTREAM:-go}"
  echo "pinning=$([ "$BENCH_PIN" = 1 ] && echo "proxies on CPU $PROXY_CPU; wrk, upstream and pebble on CPU $LOAD_CPU" || echo off)"
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >>"$WORK/machine.txt"

mkdir -p "$OUT/runs"
cp "$RAW" "$OUT/raw.jsonl"
# Keep every run's raw lines, so earlier runs can be compared with this one.
cp "$RAW" "$OUT/runs/$(date -u +%Y-%m-%dT%H-%M-%SZ).jsonl"
docs_arg=()
[ "$DOCS" != none ] && docs_arg=(-docs "$DOCS")
"$WORK/bin/report" -raw "$RAW" -machine "$WORK/machine.txt" -out "$OUT" "${docs_arg[@]}"
"$WORK/bin/chart" -in "$OUT/results.json" -out "$OUT"
say "results in $OUT (results.json, results.csv, raw.jsonl, *.png)"
