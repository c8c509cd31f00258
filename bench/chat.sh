#!/usr/bin/env bash
# Chat benchmark: edge's in-process WebSocket chat on a throwaway PostgreSQL, loaded by
# bench/chatload. Two runs:
#   fan-out  CHAT_CONNS idle members in one room, CHAT_FANOUT_RATE msg/s into it:
#            edge RSS per idle connection, delivered msgs/s, end-to-end p50/p99
#   durable  CHAT_DURABLE_CONNS connections in CHAT_DURABLE_ROOMS rooms (default: one
#            each, so the writer is measured, not fan-out), all sending CHAT_RATE msg/s
#            in total: acks/s (= rows committed), ack and delivery latency
#
#   bash bench/chat.sh                       10,000 members, 40,000 msg/s offered
#   CHAT_CONNS=15000 bash bench/chat.sh
#   CHAT_RUNS=fanout bash bench/chat.sh     only the fan-out run (fanout, durable or both)
#   CHAT_TLS=1 bash bench/chat.sh           the chat over wss (HTTPS listener, own
#                                           self-signed certificate), as edge serves it
#   CHAT_SETTLE=30s bash bench/chat.sh      read edge's RSS that long after the joins
#                                           (default 2s: the joins' garbage included)
#
# edge runs pinned to BENCH_PROXY_CPU [1] with GOMAXPROCS=CHAT_EDGE_PROCS [1]; chatload on BENCH_LOAD_CPU
# [0]; PostgreSQL is not pinned (it is part of what is measured; CHAT_PG_CPU=N pins it to core N,
# e.g. beside chatload, so it cannot crowd edge's core). The durable run prints the CPU time
# PostgreSQL used, so edge, chatload and PostgreSQL add up to the box. CHAT_LOAD_NICE=19 runs chatload
# at that nice level: with BENCH_PIN=0 edge then has both cores while the 10,000 receivers
# wait (as if they were on other machines); their kernel arrival times still say when
# each frame reached them. BENCH_EDGE=/path/to/edge measures another build. Results:
# $BENCH_OUT/chat-fanout.json and chat-durable.json. Exit 3: edge cannot run the chat
# in this build.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/prologue.sh

CONNS=${CHAT_CONNS:-10000}
FANOUT_RATE=${CHAT_FANOUT_RATE:-2}
DURABLE_CONNS=${CHAT_DURABLE_CONNS:-2000}
RATE=${CHAT_RATE:-40000}
DURABLE_ROOMS=${CHAT_DURABLE_ROOMS:-$DURABLE_CONNS}
EDGE_PROCS=${CHAT_EDGE_PROCS:-1}
DURATION=${CHAT_DURATION:-10s}
LOAD_NICE=(); [ -n "${CHAT_LOAD_NICE:-}" ] && LOAD_NICE=(nice -n "$CHAT_LOAD_NICE")
RUNS=${CHAT_RUNS:-fanout,durable}
TLS=${CHAT_TLS:-0}
bench_settings
command -v go >/dev/null || die "go is needed to build chatload"
PGBIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  need_packages initdb:postgresql
  PGBIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
need_packages curl:curl taskset:util-linux ss:iproute2 setpriv:util-linux
[ "$TLS" = 1 ] && need_packages openssl:openssl

exit_unless_edge_runs

bench_workdir chat
chmod 755 "$WORK"

(cd bench && go build -o "$WORK/bin/" ./chatload) || die "building chatload failed"

# A private PostgreSQL cluster (initdb and postgres refuse to run as root).
next_port; PG_PORT=$NEXT_PORT
mkdir -p "$WORK/pg" "$WORK/pgsock"
chown postgres "$WORK/pg" "$WORK/pgsock"
# as_pg runs a command as the postgres user; setpriv execs it, so $! is the program.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  else
    "$@"
  fi
}
as_pg "$PGBIN/initdb" -D "$WORK/pg" -A trust -U postgres >"$WORK/initdb.log" 2>&1 ||
  die "initdb failed: $(tail -n 3 "$WORK/initdb.log")"
pg_cmd=()
[ -n "${CHAT_PG_CPU:-}" ] && pg_cmd=(taskset -c "$CHAT_PG_CPU")
pg_cmd+=("$PGBIN/postgres" -D "$WORK/pg" -p "$PG_PORT" -k "$WORK/pgsock" -c listen_addresses=127.0.0.1 -c max_connections=200)
if [ "$(id -u)" = 0 ]; then
  setpriv --reuid=postgres --regid=postgres --init-groups -- "${pg_cmd[@]}" >"$WORK/postgres.log" 2>&1 &
else
  "${pg_cmd[@]}" >"$WORK/postgres.log" 2>&1 &
fi
PID[postgres]=$!
for _ in $(seq 100); do
  as_pg "$PGBIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -q && break
  sleep 0.2
done
as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc 'CREATE DATABASE edge' >/dev/null ||
  die "PostgreSQL did not start: $(tail -n 3 "$WORK/postgres.log")"

# edge with only the chat route.
next_port; HTTP_PORT[edge]=$NEXT_PORT
next_port; METRICS_PORT=$NEXT_PORT
mkdir -p "$WORK/edge"
HTTPS_LISTEN="" SITE_TLS="" HOSTS="localhost, 127.0.0.1" BASE="http://127.0.0.1:${HTTP_PORT[edge]}" CURL_TLS=()
if [ "$TLS" = 1 ]; then
  # edge manages certificates for DNS names only: the TLS run uses https://localhost.
  next_port; HTTPS_LISTEN=127.0.0.1:$NEXT_PORT BASE=https://localhost:$NEXT_PORT CURL_TLS=(-k) HOSTS=localhost
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$WORK/edge/key.pem" -out "$WORK/edge/cert.pem" 2>"$WORK/openssl.log" ||
    die "openssl could not make the test certificate: $(tail -n 2 "$WORK/openssl.log")"
  SITE_TLS="tls: { cert: $WORK/edge/cert.pem, key: $WORK/edge/key.pem }"
fi
cat >"$WORK/edge/edge.yaml" <<EOF
# generated by bench/chat.sh
state_dir: $WORK/edge/state
admin_socket: $WORK/edge/admin.sock
listen: { http: "127.0.0.1:${HTTP_PORT[edge]}", https: "$HTTPS_LISTEN" }
metrics: 127.0.0.1:$METRICS_PORT
access_log: false
sites:
  - hosts: [$HOSTS]
    $SITE_TLS
    routes:
      - { path: /chat/, chat: true }
chat:
  database_url: postgres://postgres@127.0.0.1:$PG_PORT/edge?sslmode=disable
  origins: [$BASE]
  nickname_locale: en
  # chatload spreads its clients over only 8 source addresses and sends far faster
  # than a person: lift the per-IP cap, the per-connection rate and the per-address
  # session and room-creation limits for the benchmark.
  max_conns_per_ip: 20000
  message_rate: 100000
  message_burst: 100000
  session_rate: 100000
  session_burst: 100000
  rooms_per_addr_hour: 100000
EOF
mkdir -p "$WORK/edge/state"
if ! "$EDGE_BIN" validate --config "$WORK/edge/edge.yaml" >"$WORK/validate.log" 2>&1; then
  echo "edge: not runnable in this build: edge validate refused the chat config: $(tr '\n' ' ' <"$WORK/validate.log" | cut -c1-300)"
  exit 3
fi
GOMAXPROCS=$EDGE_PROCS start_bg edge "$WORK/edge.log" "$EDGE_BIN" run --config "$WORK/edge/edge.yaml"
if ! ready edge "$BASE/chat/" 30 "${CURL_TLS[@]}"; then
  echo "edge: not runnable in this build: ${STATUS[edge]}"
  exit 3
fi

URL="$BASE/chat/"
mkdir -p "$OUT"
# save_chat_metrics RUN keeps edge's chat metrics (batch sizes and commit times: what
# bounds durable throughput) after a run, and prints the batch figures.
save_chat_metrics() {
  curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null | grep '^edge_chat' >"$OUT/chat-metrics-$1.txt" || true
  local n s t
  n=$(sed -n 's/^edge_chat_batch_size_count //p' "$OUT/chat-metrics-$1.txt")
  s=$(sed -n 's/^edge_chat_batch_size_sum //p' "$OUT/chat-metrics-$1.txt")
  t=$(sed -n 's/^edge_chat_batch_seconds_sum //p' "$OUT/chat-metrics-$1.txt")
  if [ -n "$n" ] && [ "${n%.*}" != 0 ]; then
    say "$1: $n batches committed (cumulative), $(awk -v s="$s" -v n="$n" 'BEGIN{printf "%.0f", s/n}') messages and $(awk -v t="$t" -v n="$n" 'BEGIN{printf "%.1f", 1000*t/n}') ms per batch on average"
  fi
}
if [[ ,$RUNS, == *,fanout,* ]]; then
  say "fan-out: $CONNS members in one room, $FANOUT_RATE msg/s for $DURATION"
  pin "$LOAD_CPU" "${LOAD_NICE[@]}" "$WORK/bin/chatload" -url "$URL" -conns "$CONNS" -rooms 1 -senders 1 \
    -rate "$FANOUT_RATE" -duration "$DURATION" -settle "${CHAT_SETTLE:-2s}" -edge-pid "${PID[edge]}" -json "$OUT/chat-fanout.json"
  save_chat_metrics fanout
fi
if [[ ,$RUNS, == *,durable,* ]]; then
  say "durable: $DURATION of $RATE msg/s offered by $DURABLE_CONNS senders in $DURABLE_ROOMS rooms"
  pg_ticks=$(cpu_ticks "${PID[postgres]}")
  pin "$LOAD_CPU" "$WORK/bin/chatload" -url "$URL" -conns "$DURABLE_CONNS" -rooms "$DURABLE_ROOMS" \
    -senders "$DURABLE_CONNS" -rate "$RATE" -duration "$DURATION" -edge-pid "${PID[edge]}" \
    -json "$OUT/chat-durable.json"
  pg_ticks=$(($(cpu_ticks "${PID[postgres]}") - pg_ticks))
  acked=$(sed -n 's/^ *"acked": \([0-9]*\).*/\1/p' "$OUT/chat-durable.json")
  say "durable: PostgreSQL used $(awk -v t="$pg_ticks" -v hz="$(getconf CLK_TCK)" -v n="${acked:-0}" \
    'BEGIN{printf "%.2f s of CPU over the run (%.1f µs per acked message)", t/hz, n ? 1e6*t/hz/n : 0}')"
  save_chat_metrics durable
fi
rows=$(as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d edge -tAc 'SELECT count(*) FROM messages' 2>/dev/null || echo "?")
say "messages table holds $rows rows; results in $OUT/chat-fanout.json, $OUT/chat-durable.json"
