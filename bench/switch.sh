#!/usr/bin/env bash
# Switch under load: wrk drives keep-alive traffic through edge while `edge switch`
# flips the app between blue and green SWITCHES times. Every response must be 2xx and
# every socket must survive: the run fails (exit 1) on any error.
#
#   bash bench/switch.sh                    100 switches, wrk -c32
#   SWITCHES=20 bash bench/switch.sh        shorter
#
# Environment: SWITCHES [100], SWITCH_CONNS [32], SWITCH_TIMEOUT [10s] (per switch),
# EDGE_DRAIN [1s] (the app's drain period), BENCH_EDGE [bin/edge], BENCH_OUT
# [bench/results], BENCH_PROXY_CPU [1], BENCH_LOAD_CPU [0], BENCH_KEEP [0].
# Exit: 0 all switches done with 0 errors; 1 errors; 3 edge cannot run in this build.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/prologue.sh

SWITCHES=${SWITCHES:-100}
CONNS=${SWITCH_CONNS:-32}
TIMEOUT=${SWITCH_TIMEOUT:-10s}
bench_settings
command -v go >/dev/null || die "go is needed to build the upstream"
need_packages wrk:wrk curl:curl taskset:util-linux ss:iproute2

exit_unless_edge_runs

bench_workdir switch

(cd bench && go build -o "$WORK/bin/" ./upstream) || die "building the upstream failed"
gen_static
start_upstream

if ! start_edge; then
  echo "edge: ${STATUS[edge]}"
  exit 3
fi
SOCK=$WORK/edge/admin.sock
URL="http://127.0.0.1:${HTTP_PORT[edge]}/up/small"

say "wrk -c$CONNS through edge while switching $SWITCHES times"
pinned "$LOAD_CPU" wrk -t1 -c"$CONNS" -d3600s --timeout 5s -s bench/wrk/switch.lua "$URL"
"${PINNED[@]}" >"$WORK/wrk.out" 2>&1 &
PID[wrk]=$!
sleep 2
ok=0 failed=0 color=green
t0=$(date +%s%N)
: >"$WORK/switch.log"
for i in $(seq "$SWITCHES"); do
  if "$EDGE_BIN" switch "$color" --socket "$SOCK" --timeout "$TIMEOUT" >>"$WORK/switch.log" 2>&1; then
    ok=$((ok + 1))
  else
    failed=$((failed + 1))
    say "switch $i to $color failed: $(tail -n 1 "$WORK/switch.log")"
  fi
  if [ "$color" = green ]; then color=blue; else color=green; fi
done
ms=$((($(date +%s%N) - t0) / 1000000))
sleep 1
kill -INT "${PID[wrk]}"
wait "${PID[wrk]}" || true
unset 'PID[wrk]'
res=$(sed -n 's/^BENCHJSON //p' "$WORK/wrk.out" | tail -1)
[ -n "$res" ] || die "wrk printed no result: $(tail -n 5 "$WORK/wrk.out")"

errors=$(printf '%s' "$res" | awk -F'[:,}]' '{
  for (i = 1; i < NF; i++) if ($i ~ /"err_/) s += $(i + 1); print s + 0 }')
mkdir -p "$OUT"
printf '{"switches":%d,"switch_ok":%d,"switch_failed":%d,"switching_ms":%d,"wrk_connections":%d,"first_switch_said":%s,"edge":%s,"wrk":%s,"date":"%s"}\n' \
  "$SWITCHES" "$ok" "$failed" "$ms" "$CONNS" "$(json_str "$(head -n 1 "$WORK/switch.log")")" "$(json_str "$("$EDGE_BIN" version 2>/dev/null | head -1)")" \
  "$res" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$OUT/switch.json"
echo "switches: $ok done, $failed refused or failed, in $ms ms ($((ms / SWITCHES)) ms each)"
echo "edge said (first switch): $(head -n 1 "$WORK/switch.log" | tr '\n' ' ')"
echo "wrk:      $res"
echo "errors:   $errors (non-2xx + socket errors; must be 0)"
echo "written:  $OUT/switch.json"
[ "$errors" = 0 ] && [ "$failed" = 0 ] || exit 1
