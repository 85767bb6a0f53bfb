#!/usr/bin/env bash
# The soak run: docker/soak.yml (one validator on PostgreSQL with its gateway, three
# miners, a customer sending encrypted test-tiny requests through the gateway in a
# loop) for a fixed time, with faults injected at fixed fractions of it:
#
#   10%  miner-1 killed (SIGKILL), back 30 s later
#   20%  miner-2's link delayed 200 +- 50 ms and lossy (2%) by tc netem, to the end
#   35%  the validator restarted in the middle of a round
#   50%  PostgreSQL restarted
#   65%  miner-3 killed, back 30 s later
#   80%  the validator restarted again
#
# It writes a report (REPORT, default soak-report.md): rounds and their spacing,
# weight settings and their spacing, standings before and after each restart (nothing
# may be lost), queries stored and refused by the database, customer requests served
# and failed by reason, each container's memory after warm-up and at the end.
#
#   scripts/soak.sh                   # 60 minutes, images built first
#   scripts/soak.sh --minutes 10 --skip-build
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
minutes=60 build=1
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) minutes=$2; shift 2 ;;
    --skip-build) build=0; shift ;;
    *) echo "usage: $0 [--minutes N] [--skip-build]" >&2; exit 2 ;;
  esac
done
duration=$((minutes * 60))
report=${REPORT:-$root/soak-report.md}
tag=${BRAINLOCK_TAG:-latest}
export SOAK_DIR=$root/docker/soak-data SOAK_METRICS_PORT=${SOAK_METRICS_PORT:-19101}
export SOAK_UID SOAK_GID SOAK_PG_PASSWORD SOAK_API_KEY
SOAK_UID=$(id -u) SOAK_GID=$(id -g)
# Run by root, the daemons would run as root: the images' unprivileged user instead.
[ "$SOAK_UID" != 0 ] || { SOAK_UID=10001 SOAK_GID=10001; }
SOAK_PG_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
compose=(docker-compose -p brainlock-soak -f docker/soak.yml)

log() { printf '[%s] %s\n' "$(date +%T)" "$*" | tee -a "$SOAK_DIR/events.log" >&2; }
sampler=
# A finished run is torn down; a failed one is left running, its database and logs
# intact, for inspection.
teardown() {
  local status=$?
  [ -z "$sampler" ] || kill "$sampler" 2>/dev/null || true
  if [ "$status" -eq 0 ]; then
    "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  else
    echo "soak run FAILED (status $status); events: $SOAK_DIR/events.log; left running:" \
      "tear down with: docker-compose -p brainlock-soak -f docker/soak.yml down -v" >&2
  fi
  exit "$status"
}
# grep that finds nothing without failing the pipeline around it.
matching() { grep "$@" || true; }

[ "$build" = 0 ] || scripts/docker-build.sh
"${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
rm -rf "$SOAK_DIR"
mkdir -p "$SOAK_DIR/wallets"
trap teardown EXIT
cli() {
  docker run --rm --user "$SOAK_UID:$SOAK_GID" -v "$SOAK_DIR:/data" --entrypoint brainlock \
    "brainlock-validator:$tag" "$@"
}
[ "$(id -u)" != 0 ] || chown -R "$SOAK_UID:$SOAK_GID" "$SOAK_DIR"
for wallet in validator miner-1 miner-2 miner-3; do
  cli wallet create --wallet.path /data/wallets --wallet.name "$wallet" >/dev/null
done
cli registry register --registry /data/registry.json --wallet.path /data/wallets \
  --wallet.name validator --role validator --stake 100000 >/dev/null
for miner in miner-1 miner-2 miner-3; do
  cli registry register --registry /data/registry.json --wallet.path /data/wallets \
    --wallet.name "$miner" --role miner >/dev/null
done
issued=$(cli gateway issue-key --name soak-customer)
SOAK_API_KEY=$(printf '%s\n' "$issued" | sed -n '2s/^ *//p')
{
  cat configs/compose/validator.toml
  printf '\n%s\n' "$issued" | sed -n '/^\[\[gateway.customers\]\]/,$p'
  printf '[gateway.quota]\nrequests_per_hour = 100000\nitems_per_hour = 100000\nmax_inflight = 2\n'
} > "$SOAK_DIR/validator.toml"
cat > "$SOAK_DIR/customer.sh" <<'EOF'
# The soak's customer: encrypted test-tiny requests through the gateway, one at a time,
# one line of outcome each (the soak report counts them).
i=0
while :; do
  i=$((i + 1))
  if out=$(brainlock classify "synthetic:$((i % 100))" --gateway http://validator:8092 --circuit test-tiny 2>&1); then
    echo "customer served $i"
  else
    echo "customer failed $i: $(printf '%s\n' "$out" | grep -v '^\s*$' | tail -1 | cut -c1-160)"
  fi
  sleep 3
done
EOF
[ "$(id -u)" != 0 ] || chown -R "$SOAK_UID:$SOAK_GID" "$SOAK_DIR"

# --- observations -----------------------------------------------------------------
sql() { "${compose[@]}" exec -T postgres psql -U brainlock -d brainlock -Atc "$1" 2>/dev/null; }
standings() {
  curl -fsS "http://127.0.0.1:$SOAK_METRICS_PORT/metrics" 2>/dev/null |
    matching '^brainlock_validator_miner_standing' | sed 's/.*hotkey="\([^"]*\)".* \(.*\)/\1=\2/' | sort
}
# Standings read between two equal counts of stored queries: none landed meanwhile.
settled_standings() {
  local rows
  for _ in $(seq 20); do
    rows=$(sql 'select count(*) from queries')
    s=$(standings)
    [ "$rows" != "$(sql 'select count(*) from queries')" ] || { echo "$rows|$s"; return; }
    sleep 1
  done
  echo "$rows|$s"
}
memory() { # NAME MiB for each container of the run
  # shellcheck disable=SC2046  # one argument per container id
  docker stats --no-stream --format '{{.Name}} {{.MemUsage}}' $("${compose[@]}" ps -q) |
    awk '{v = $2; u = v; gsub(/[0-9.]/, "", u); gsub(/[^0-9.]/, "", v);
          f = (u == "GiB") ? 1024 : (u == "KiB") ? 1 / 1024 : 1;
          sub(/^brainlock-soak_/, "", $1); sub(/_1$/, "", $1); printf "%s %.1f\n", $1, v * f}' | sort
}
container_pid() { docker inspect -f '{{.State.Pid}}' "$("${compose[@]}" ps -q "$1")"; }

# --- faults -------------------------------------------------------------------------
declare -a restarts=()
declare -A restarted_at=()  # per container: " SECONDS" into the run of each restart
# Fault functions run under `||` (a failed one is counted), where errexit is off: each
# step checks itself.
kill_miner() {
  log "fault: $1 killed (SIGKILL)"
  docker kill -s KILL "$("${compose[@]}" ps -q "$1")" >/dev/null || return 1
  "${compose[@]}" stop -t 0 "$1" >/dev/null 2>&1 || true
  sleep 30
  "${compose[@]}" start "$1" >/dev/null || return 1
  restarted_at[$1]+=" $((SECONDS - started))"
  log "fault: $1 back"
}
# tc netem where the kernel has it; otherwise (this machine's kernel has no sch_netem) a
# link of 20 Mbit/s each way (tbf, up to 200 ms of queueing) that drops 2% of packets
# each way (iptables statistic). Traffic toward the miner is shaped on its host-side
# veth, traffic from it on its own interface.
degrade_link() {
  local pid peer veth
  pid=$(container_pid "$1")
  if nsenter -t "$pid" -n tc qdisc replace dev eth0 root netem delay 200ms 50ms loss 2% 2>/dev/null; then
    log "fault: $1's link delayed 200 +- 50 ms with 2% loss (netem)"
    return
  fi
  peer=$(nsenter -t "$pid" -n ip -o link show eth0 | sed -n 's/.*eth0@if\([0-9]*\).*/\1/p')
  veth=$(ip -o link | awk -F': ' -v i="$peer" '$1 == i {sub(/@.*/, "", $2); print $2}')
  [ -n "$veth" ] || { log "fault: cannot find $1's host-side interface"; return 1; }
  tc qdisc replace dev "$veth" root tbf rate 20mbit burst 64kb latency 200ms || return 1
  nsenter -t "$pid" -n tc qdisc replace dev eth0 root tbf rate 20mbit burst 64kb latency 200ms || return 1
  for chain in INPUT OUTPUT; do
    nsenter -t "$pid" -n iptables -A "$chain" -m statistic --mode random --probability 0.02 -j DROP || return 1
  done
  log "fault: $1's link slowed to 20 Mbit/s each way (tbf, <= 200 ms queueing) with 2% loss each way (iptables; no netem in this kernel)"
}
restart_service() { # SERVICE: standings and stored queries before and after
  local before after rows_before rows_after
  before=$(settled_standings)
  log "fault: $1 restarted"
  "${compose[@]}" restart -t 10 "$1" >/dev/null || return 1
  restarted_at[$1]+=" $((SECONDS - started))"
  local deadline=$((SECONDS + 180))
  until [ -n "$(standings)" ] && [ -n "$(sql 'select 1')" ]; do
    [ $SECONDS -lt $deadline ] || { log "no standings 180 s after restarting $1"; return 1; }
    sleep 2
  done
  after=$(settled_standings)
  rows_before=${before%%|*} rows_after=${after%%|*}
  local verdict=kept
  # Queries may land after the restart; standings must then differ only by them.
  if [ "$rows_before" = "$rows_after" ] && [ "${before#*|}" != "${after#*|}" ]; then verdict=LOST; fi
  restarts+=("| $1 | $(date +%T) | $rows_before | $rows_after | $(echo "${before#*|}" | tr '\n' ' ') | $(echo "${after#*|}" | tr '\n' ' ') | $verdict |")
  log "restart of $1: standings $verdict (stored queries $rows_before -> $rows_after)"
  [ "$verdict" = kept ]
}

# --- the run ------------------------------------------------------------------------
log "soak run: $minutes minutes, 3 miners, validator on PostgreSQL, customer through the gateway"
"${compose[@]}" up -d
started=$SECONDS
# Every container's memory every 30 s, as "SECONDS NAME MiB" lines.
( while sleep 30; do memory | sed "s/^/$((SECONDS - started)) /"; done >> "$SOAK_DIR/memory.log" ) &
sampler=$!
sleep 120
log "memory after warm-up: $(memory | tr '\n' ' ')"
declare -A faults=(
  [$((duration * 10 / 100))]="kill_miner miner-1"
  [$((duration * 20 / 100))]="degrade_link miner-2"
  [$((duration * 35 / 100))]="restart_service validator"
  [$((duration * 50 / 100))]="restart_service postgres"
  [$((duration * 65 / 100))]="kill_miner miner-3"
  [$((duration * 80 / 100))]="restart_service validator"
)
failed_faults=0
for at in $(printf '%s\n' "${!faults[@]}" | sort -n); do
  now=$((SECONDS - started))
  [ "$at" -le "$now" ] || sleep $((at - now))
  ${faults[$at]} || failed_faults=$((failed_faults + 1))
done
now=$((SECONDS - started))
[ "$duration" -le "$now" ] || sleep $((duration - now))
kill "$sampler" 2>/dev/null || true
log "memory at the end: $(memory | tr '\n' ' ')"

# --- the report ---------------------------------------------------------------------
rounds=$(sql "select count(distinct block) from queries")
round_gap=$(sql "select round(coalesce(max(gap), 0), 1) from (select (min(started_at_ms) - lag(min(started_at_ms)) over (order by min(started_at_ms))) / 1000.0 as gap from queries group by block) g")
outcomes=$(sql "select outcome || coalesce(' (' || split_part(failure_reason, ':', 1) || ')', '') as o, count(*) from queries group by o order by 2 desc" | sed 's/|/: /' | head -12)
weights=$(sql "select outcome, count(*) from weight_settings group by outcome" | sed 's/|/: /')
weights_gap=$(sql "select round(coalesce(max(gap), 0), 1) from (select (set_at_ms - lag(set_at_ms) over (order by set_at_ms)) / 1000.0 as gap from weight_settings where outcome = 'ok') g")
validator_logs=$("${compose[@]}" logs --no-color validator 2>/dev/null)
not_stored=$(grep -c 'query not stored' <<< "$validator_logs" || true)
not_stored_why=$(matching 'query not stored' <<< "$validator_logs" | sed -n 's/.*error="\([^"]*\)".*/\1/p' | cut -c1-120 | sort | uniq -c | sort -rn | head -5)
customer_logs=$("${compose[@]}" logs --no-color customer 2>/dev/null)
served=$(grep -c 'customer served' <<< "$customer_logs" || true)
customer_failures=$(matching -o 'customer failed [0-9]*: .*' <<< "$customer_logs" | sed 's/customer failed [0-9]*: //' | cut -c1-90 | sort | uniq -c | sort -rn | head -8)
# Per life of each container (from its start, or a restart, to the next), from 2
# minutes in: the median of its first and of its last 5 minutes of samples, and its
# peak. Memory swings with the work in flight (keys, images, results); the medians
# compare what a process holds.
growth=$(for name in $(awk '$2 != "customer" {print $2}' "$SOAK_DIR/memory.log" | sort -u); do
  awk -v n="$name" -v W=10 -v starts="0${restarted_at[$name]:-}" '
    function median(a, m,   i, j, x) {
      for (i = 2; i <= m; i++) {x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x}
      return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    BEGIN {k = split(starts, s, " "); s[k + 1] = 1e12}
    $2 == n && $3 > 0 {for (i = 1; i <= k; i++) if ($1 >= s[i] + 120 && $1 < s[i + 1]) {
      c = ++count[i]; v[i, c] = $3; t[i, c] = $1; if ($3 > peak[i]) peak[i] = $3}}
    END {for (i = 1; i <= k; i++) if (count[i] > 0) {
      c = count[i]; w = c < 2 * W ? int((c + 1) / 2) : W
      for (j = 1; j <= w; j++) {a[j] = v[i, j]; b[j] = v[i, c - w + j]}
      first = median(a, w); last = median(b, w)
      printf "| %s | %d | %d-%d | %.1f | %.1f | %.1f | %+.1f%% |\n", n, i, t[i, 1] / 60, t[i, c] / 60,
        first, last, peak[i], (last - first) / first * 100}}' "$SOAK_DIR/memory.log"
done)
per_miner=$(sql "select uid, count(*) filter (where outcome = 'passed'), count(*) filter (where outcome <> 'passed'), round(avg(seconds_per_item)::numeric, 2), round(avg(key_upload_seconds)::numeric, 2) from queries group by uid order by uid" | awk -F'|' '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5}')
{
  echo "# Soak run: $minutes minutes ($(date -u +%F), $(nproc) cores)"
  echo
  echo "Faults injected (events log: docker/soak-data/events.log):"
  grep 'fault:' "$SOAK_DIR/events.log" | sed 's/^/- /'
  echo
  echo "## Rounds and weights"
  echo "- blocks at which rounds stored queries: $rounds; longest gap between them: ${round_gap} s"
  echo "- weight settings: $(echo "$weights" | tr '\n' ' '); longest gap between successful settings: ${weights_gap} s"
  echo "- queries the database refused to store (logged 'query not stored'): $not_stored"
  [ -z "$not_stored_why" ] || echo "$not_stored_why" | sed 's/^ */  - /'
  echo "- stored queries by outcome (failure kind):"
  echo "$outcomes" | sed 's/^/  - /'
  echo
  echo "| miner uid | passed | failed | mean s/item | mean key upload s |"
  echo "|---|---|---|---|---|"
  echo "$per_miner"
  echo
  echo "## Standings across restarts"
  echo "| restarted | at | stored queries before | after | standings before | after | verdict |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${restarts[@]}"
  echo
  echo "## Customer requests through the gateway"
  echo "- served: $served"
  echo "- failed: $(grep -c 'customer failed' <<< "$customer_logs" || true)"
  [ -z "$customer_failures" ] || echo "$customer_failures" | sed 's/^ */  - /'
  echo
  echo "## Memory (MiB): each life of each container, from 2 minutes after its start to its end"
  echo "| container | life | minutes | median, first 5 min | median, last 5 min | peak | change |"
  echo "|---|---|---|---|---|---|---|"
  echo "$growth"
} > "$report"
cat "$report"
[ "$failed_faults" -eq 0 ] || { log "$failed_faults faults were not survived"; exit 1; }
