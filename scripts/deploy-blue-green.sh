#!/usr/bin/env bash
# Blue/green deploy of one app behind edge (see docs/deploy.md, "Deploying a new version").
#
#   deploy-blue-green.sh deploy   --app web --unit 'web@%s.service' [--install CMD] [options]
#   deploy-blue-green.sh rollback --app web --unit 'web@%s.service' [options]
#
# deploy:   1. asks edge which color is live and which is idle (edge status --json)
#           2. runs --install CMD with COLOR=<idle> and ADDR=<idle addr> in the environment
#              (e.g. unpack the release into /srv/web/$COLOR), then restarts the idle unit
#           3. waits until the idle color answers its health path
#           4. with --canary 10,50: edge switch <idle> --weight 10, hold --step-wait seconds,
#              then 50, ...; a refused step or a --check CMD that fails rolls the canary back
#           5. edge switch <idle>: edge checks health again, moves traffic, drains the old color
#           6. stops the old color's unit (--keep-old leaves it running for instant rollback)
# rollback: starts the previous color's unit, waits for health, edge rollback, stops the other.
#
# The app's two colors run as systemd units named by --unit, %s being blue or green, each
# listening on the address edge.yaml gives that color (apps.<app>.blue / .green).
set -euo pipefail

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }

EDGE=${EDGE:-edge}
SYSTEMCTL=${SYSTEMCTL:-systemctl}
action=${1:-}
[ $# -gt 0 ] && shift
app="" unit="" install="" health="/health" wait_s=120 drain="60s" keep_old=false socket=()
canary="" step_wait=60 check=""
while [ $# -gt 0 ]; do
  case "$1" in
    --app) app=$2; shift 2 ;;
    --unit) unit=$2; shift 2 ;;
    --install) install=$2; shift 2 ;;
    --health-path) health=$2; shift 2 ;;
    --wait) wait_s=$2; shift 2 ;;
    --switch-timeout) drain=$2; shift 2 ;;
    --socket) socket=(--socket "$2"); shift 2 ;;
    --keep-old) keep_old=true; shift ;;
    --canary) canary=$2; shift 2 ;;
    --step-wait) step_wait=$2; shift 2 ;;
    --check) check=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "deploy-blue-green: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$action" in
  deploy|rollback) ;;
  -h|--help|help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac
[ -n "$app" ] && [ -n "$unit" ] || { echo "deploy-blue-green: --app and --unit are required" >&2; exit 2; }
[[ "$unit" == *%s* ]] || { echo "deploy-blue-green: --unit must contain %s (e.g. web@%s.service)" >&2; exit 2; }
[[ "$wait_s" =~ ^[0-9]+$ ]] || { echo "deploy-blue-green: --wait takes whole seconds" >&2; exit 2; }
[[ "$step_wait" =~ ^[0-9]+$ ]] || { echo "deploy-blue-green: --step-wait takes whole seconds" >&2; exit 2; }
[[ -z "$canary" || "$canary" =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "deploy-blue-green: --canary takes percentages such as 10,50" >&2; exit 2; }
for tool in jq curl "$EDGE"; do
  command -v "$tool" >/dev/null || { echo "deploy-blue-green: $tool is not installed" >&2; exit 1; }
done

log() { printf '%s deploy-blue-green[%s]: %s\n' "$(date +%H:%M:%S)" "$app" "$*"; }
die() { log "FAILED: $*"; exit 1; }

status=$("$EDGE" status --json "${socket[@]}") || die "edge status failed; is edge running? (systemctl status edge)"
app_json=$(jq -e --arg a "$app" '.apps[] | select(.name == $a)' <<<"$status") || die "edge has no app named $app"
active=$(jq -r '.active' <<<"$app_json")
case "$active" in blue) idle=green ;; green) idle=blue ;; *) die "edge reports active color '$active'" ;; esac
addr_of() { jq -r --arg c "$1" '.slots[$c].addr' <<<"$app_json"; }
# every replica of a color, space-separated (edge status lists them; older edges only addr)
addrs_of() { jq -r --arg c "$1" '[(.slots[$c].replicas // [{addr: .slots[$c].addr}])[].addr] | join(" ")' <<<"$app_json"; }

wait_healthy() { # color "addr addr ..."
  local deadline=$((SECONDS + wait_s)) a
  for a in $2; do
    until curl -fsS -o /dev/null --max-time 5 "http://$a$health"; do
      [ $SECONDS -lt $deadline ] || die "$1 ($a) did not answer GET $health within ${wait_s}s; traffic stays on $active"
      sleep 1
    done
    log "$1 ($a) is healthy"
  done
}

# canary_steps raises the idle color's share step by step; any failure ends the canary.
canary_steps() {
  local w
  for w in ${canary//,/ }; do
    "$EDGE" switch "$idle" --app "$app" --weight "$w" --timeout "$drain" "${socket[@]}" ||
      { "$EDGE" rollback --app "$app" "${socket[@]}" || true; die "canary step $w% refused; every visitor is back on $active"; }
    log "canary: $w% of visitors on $idle; holding ${step_wait}s"
    sleep "$step_wait"
    if [ -n "$check" ] && ! COLOR=$idle WEIGHT=$w bash -c "$check"; then
      "$EDGE" rollback --app "$app" "${socket[@]}" || true
      die "--check failed at $w%; every visitor is back on $active"
    fi
  done
}

if [ "$action" = deploy ]; then
  target=$idle old=$active
  log "live: $active, deploying to idle $idle ($(addr_of "$idle"))"
  if [ -n "$install" ]; then
    COLOR=$idle ADDR=$(addr_of "$idle") ADDRS=$(addrs_of "$idle") bash -c "$install" || die "--install failed; traffic stays on $active"
  fi
  "$SYSTEMCTL" restart "$(printf "$unit" "$idle")" || die "could not start $(printf "$unit" "$idle")"
  wait_healthy "$idle" "$(addrs_of "$idle")"
  [ -z "$canary" ] || canary_steps
  "$EDGE" switch "$idle" --app "$app" --timeout "$drain" "${socket[@]}" || die "edge switch $idle refused; traffic stays on $active"
else
  target=$idle old=$active
  log "rolling back: live $active, bringing back $idle ($(addr_of "$idle"))"
  "$SYSTEMCTL" start "$(printf "$unit" "$idle")" || die "could not start $(printf "$unit" "$idle")"
  wait_healthy "$idle" "$(addrs_of "$idle")"
  "$EDGE" rollback --app "$app" "${socket[@]}" || die "edge rollback refused; traffic stays on $active"
fi
log "traffic is on $target"
if $keep_old; then
  log "leaving $old running (--keep-old): roll back with: $0 rollback --app $app --unit '$unit'"
else
  "$SYSTEMCTL" stop "$(printf "$unit" "$old")" || log "warning: could not stop $(printf "$unit" "$old")"
  log "stopped $old"
fi
