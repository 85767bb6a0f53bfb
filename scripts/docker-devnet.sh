#!/usr/bin/env bash
# docker compose, end to end: a miner container and a validator container on a private
# compose network complete a scored round on a local registry; the miner is stopped in
# the middle of the next round, the validator records the failure and keeps going, and
# after the miner comes back it passes again.
#
#   scripts/docker-devnet.sh           # builds the images first (scripts/docker-build.sh)
#   SKIP_BUILD=1 scripts/docker-devnet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
project=brainlock-devnet
export BRAINLOCK_SHARED=$root/docker/shared
export BRAINLOCK_METRICS_PORT=${BRAINLOCK_METRICS_PORT:-19100}
compose=(docker-compose -p "$project" -f docker/docker-compose.yml)
docker compose version >/dev/null 2>&1 && compose=(docker compose -p "$project" -f docker/docker-compose.yml)
timeout_s=${ROUND_TIMEOUT:-900}

[ -n "${SKIP_BUILD:-}" ] || scripts/docker-build.sh
brainlock=$root/target/release/brainlock
[ -x "$brainlock" ] || cargo build --release --locked -p brainlock-cli

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
cleanup() {
  log "validator log (last 15 lines):"
  "${compose[@]}" logs --no-color --tail 15 validator || true
  "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
}
trap cleanup EXIT

log "preparing wallets and the local registry in $BRAINLOCK_SHARED"
rm -rf "$BRAINLOCK_SHARED"
mkdir -p "$BRAINLOCK_SHARED/wallets"
for wallet in miner validator; do
  # Throwaway devnet hotkeys: their recovery phrases are not kept.
  "$brainlock" wallet create --wallet.path "$BRAINLOCK_SHARED/wallets" --wallet.name "$wallet" >/dev/null
done
"$brainlock" registry register --registry "$BRAINLOCK_SHARED/registry.json" \
  --wallet.path "$BRAINLOCK_SHARED/wallets" --wallet.name validator --role validator --stake 100000
"$brainlock" registry register --registry "$BRAINLOCK_SHARED/registry.json" \
  --wallet.path "$BRAINLOCK_SHARED/wallets" --wallet.name miner --role miner
# The containers run as uid 10001 and update the registry (the miner's axon).
chown -R 10001 "$BRAINLOCK_SHARED" 2>/dev/null || chmod -R a+rwX "$BRAINLOCK_SHARED"

"${compose[@]}" up -d miner validator

# queries OUTCOME: the validator's count of queries with that outcome ("passed", or a
# failure kind; "failed" sums every failure kind).
queries() {
  local text
  text=$(curl -fsS "http://127.0.0.1:$BRAINLOCK_METRICS_PORT/metrics" 2>/dev/null) || { echo 0; return; }
  if [ "$1" = failed ]; then
    echo "$text" | awk '/^brainlock_validator_queries_total/ && !/outcome="passed"/ {s += $2} END {print s + 0}'
  else
    echo "$text" | awk -v o="outcome=\"$1\"" 'index($0, o) && /^brainlock_validator_queries_total/ {s += $2} END {print s + 0}'
  fi
}
wait_for() { # wait_for OUTCOME AT_LEAST
  local deadline=$((SECONDS + timeout_s))
  until [ "$(queries "$1")" -ge "$2" ]; do
    if [ "$(docker inspect -f '{{.State.Running}}' "$("${compose[@]}" ps -q validator)")" != true ]; then
      log "the validator container stopped"; exit 1
    fi
    [ $SECONDS -lt $deadline ] || { log "timed out waiting for $2 $1 queries"; exit 1; }
    sleep 2
  done
}

log "waiting for the first scored round (conv3x3 takes about a minute per query here) ..."
started=$SECONDS
wait_for passed 1
log "round 1 scored in $((SECONDS - started)) s: $(queries passed) passed"
"${compose[@]}" logs --no-color validator | grep -E 'PASSED|weights set' | tail -3

log "next round in flight: stopping the miner container in its middle"
sleep 15
"${compose[@]}" stop -t 5 miner
wait_for failed 1
running=$(docker inspect -f '{{.State.Running}}' "$("${compose[@]}" ps -q validator)")
log "validator running after the miner stopped: $running; failures recorded: $(queries failed)"
"${compose[@]}" logs --no-color validator | grep FAILED | tail -2
[ "$running" = true ]

log "bringing the miner back"
"${compose[@]}" start miner
wait_for passed 2
log "scored again after the restart: $(queries passed) passed, $(queries failed) failed"
log "docker compose devnet: OK"
