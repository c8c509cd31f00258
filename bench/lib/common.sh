# shellcheck shell=bash
# Helpers shared by bench/run.sh and bench/switch.sh: messages, packages, ports, waiting,
# CPU pinning and CPU accounting. Sourced, never run.

say() { printf '%s\n' "bench: $*" >&2; }
die() { printf '%s\n' "bench: $*" >&2; exit 1; }

# need_packages installs the Debian packages whose commands are missing (as root), or
# stops with the exact command to run. Arguments are "command:package" pairs.
need_packages() {
  local missing=() pair cmd pkg
  for pair in "$@"; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    die "missing ${missing[*]}; run as root: apt-get update && apt-get install -y ${missing[*]}"
  fi
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get; install them by hand"
  say "installing ${missing[*]} with apt-get"
  apt-get update -qq
  # Debian's packages try to start their system services; the benchmark runs its own.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || die "${pair#*:} installed but ${pair%%:*} is still missing"
  done
}

# stop_system_services stops copies that Debian's postinst may have started, so they do
# not hold ports or CPU during the run (no-op without a service manager).
stop_system_services() {
  local s
  for s in nginx haproxy caddy; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$s" 2>/dev/null; then
      say "stopping the system's $s service for the run (systemctl stop $s)"
      systemctl stop "$s" || true
    fi
  done
}

# port_free PORT: nothing listens on it (TCP, any address).
port_free() {
  ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

# next_port: sets NEXT_PORT to a free TCP port above the last one handed out
# (BENCH_PORT_BASE, or a random base in 12000–27999 so parallel runs rarely collide).
# Ports stay below the kernel's ephemeral range, where client sockets (wrk's thousands
# of connections, other users' tests) would take them.
_bench_port=${BENCH_PORT_BASE:-$((12000 + RANDOM % 16000))}
_bench_eph=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
next_port() {
  while :; do
    [ "$_bench_port" -ge "$_bench_eph" ] && _bench_port=12000
    # Any socket on the port counts (listening or connected), not just listeners.
    ss -Htan "sport = :$_bench_port" 2>/dev/null | grep -q . || break
    _bench_port=$((_bench_port + 1))
  done
  # shellcheck disable=SC2034 # read by the scripts that source this file
  NEXT_PORT=$_bench_port
  _bench_port=$((_bench_port + 1))
}

# wait_http URL SECONDS [curl args…]: polls until URL answers 2xx, or fails after SECONDS.
wait_http() {
  local url=$1 secs=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  while [ $SECONDS -lt $deadline ]; do
    if curl -fsS -o /dev/null --max-time 2 "$@" "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# alive PID: the process exists and is not a zombie.
alive() {
  [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null
}

# pinned CPU CMD…: sets PINNED to CMD, prefixed with "taskset -c CPU" when pinning is on
# (BENCH_PIN=1). Run it as "${PINNED[@]}" so a background job's $! is the program itself.
pinned() {
  local cpu=$1
  shift
  if [ "$BENCH_PIN" = 1 ]; then
    PINNED=(taskset -c "$cpu" "$@")
  else
    PINNED=("$@")
  fi
}

# pin CPU CMD…: runs CMD in the foreground, pinned like pinned().
pin() {
  pinned "$@"
  "${PINNED[@]}"
}

# tree_pids PID: PID and all its descendants.
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2; pids[NR] = $1 }
    END {
      keep[root] = 1; printf "%s", root
      changed = 1
      while (changed) {
        changed = 0
        for (i in pids) { p = pids[i]; if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; printf " %s", p; changed = 1 } }
      }
      print ""
    }'
}

# cpu_ticks PID: user+system clock ticks used so far by PID and its descendants.
cpu_ticks() {
  local total=0 p s
  for p in $(tree_pids "$1"); do
    s=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    # after "pid (comm) ": field 3 is state; utime and stime are fields 14 and 15.
    # shellcheck disable=SC2086 # split the stat line into fields on purpose
    set -- $s
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}

# core_busy CPU: non-idle clock ticks of one CPU so far (/proc/stat: user nice system
# idle iowait irq softirq steal …); with cpu_ticks it tells how much of the proxy core
# other processes (other users of a shared box) took during a run.
core_busy() {
  awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}

# rss_kib PID: resident memory of PID and its descendants, in KiB.
rss_kib() {
  local total=0 p v
  for p in $(tree_pids "$1"); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# json_str TEXT: TEXT as a JSON string (quotes, backslashes and control characters escaped).
json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=$(printf '%s' "$s" | tr '\n\r\t' '   ' | tr -d '\000-\037')
  printf '"%s"' "$s"
}

# stop_all stops every process in PID (SIGINT for the one named postgres: its fast
# shutdown; SIGTERM would wait for clients), waits up to 10 s each, kills what is left,
# and removes $WORK unless BENCH_KEEP=1. Scripts install it with: trap stop_all EXIT
stop_all() {
  local name p
  for name in "${!PID[@]}"; do
    if [ "$name" = postgres ]; then kill -INT "${PID[$name]}" 2>/dev/null || true; else kill "${PID[$name]}" 2>/dev/null || true; fi
  done
  for name in "${!PID[@]}"; do
    p=${PID[$name]}
    for _ in $(seq 100); do alive "$p" || break; sleep 0.1; done
    if alive "$p"; then kill -9 "$p" 2>/dev/null || true; fi
  done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
