# shellcheck shell=bash
# The start every bench script shares (run.sh, switch.sh, chat.sh): the helper
# libraries and the settings all runs honour. Sourced from the repository root, never run:
#   set -euo pipefail; cd "$(dirname "$0")/.."; . bench/lib/prologue.sh
ROOT=$PWD
. bench/lib/common.sh
. bench/lib/setup.sh
. bench/lib/peers.sh
. bench/lib/edge.sh

# bench_settings reads what every script takes from the environment (defaults in
# brackets): BENCH_OUT [bench/results] → OUT, BENCH_PROXY_CPU [1] → PROXY_CPU,
# BENCH_LOAD_CPU [0] → LOAD_CPU, BENCH_EDGE [bin/edge] → EDGE_BIN, BENCH_PIN [1 when
# nproc ≥ 2]. Call it after the script's own defaults (run.sh's quick mode sets BENCH_OUT).
bench_settings() {
  OUT=${BENCH_OUT:-bench/results}
  PROXY_CPU=${BENCH_PROXY_CPU:-1}
  LOAD_CPU=${BENCH_LOAD_CPU:-0}
  EDGE_BIN=${BENCH_EDGE:-$ROOT/bin/edge}
  if [ -z "${BENCH_PIN:-}" ]; then
    if [ "$(nproc)" -ge 2 ]; then BENCH_PIN=1; else BENCH_PIN=0; fi
  fi
}

# exit_unless_edge_runs: exit 3, saying why, when this build of edge cannot take part.
exit_unless_edge_runs() {
  local why
  if why=$(edge_missing); then
    echo "edge: $why"
    exit 3
  fi
}

# bench_workdir NAME sets WORK to a fresh /tmp/edge-NAME.XXXXXX, and installs the traps
# that stop everything the run started (stop_all) on exit and on Ctrl-C.
bench_workdir() {
  WORK=$(mktemp -d "/tmp/edge-$1.XXXXXX")
  trap stop_all EXIT
  trap 'exit 130' INT TERM
}
