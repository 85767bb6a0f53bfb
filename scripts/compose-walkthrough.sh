#!/usr/bin/env bash
# The README's "Run with Docker Compose", end to end on this machine: every command of
# that section as written (scripts/check-readme-commands.sh, run by CI, holds the two
# together), with checks between them. It builds the images, checks the real-network
# example configuration, then runs the private subnet: a miner, a validator on
# PostgreSQL and Prometheus on a local registry. It waits for scored rounds, restarts
# the validator and checks that its standings survived, backs the history up and
# restores it, upgrades in place, and tears everything down.
#
#   scripts/compose-walkthrough.sh             # from a clone without docker/.env
#   SKIP_BUILD=1 scripts/compose-walkthrough.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
timeout_s=${ROUND_TIMEOUT:-900}
# It creates and deletes docker/.env, data, local and backups, and the brainlock-local
# project's volumes: it refuses to start where any of them exists already.
for path in docker/.env docker/data docker/local docker/backups; do
  [ ! -e "$path" ] || { echo "$path exists: run this from a clean clone" >&2; exit 1; }
done
! docker volume ls -q | grep -q '^brainlock-local_' ||
  { echo "volumes of the compose project brainlock-local exist: run 'docker-compose down -v' in docker/ first" >&2; exit 1; }
docker-compose version --short >/dev/null

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
fail() { log "FAILED: $*"; exit 1; }
teardown() {
  local status=$?
  cd "$root/docker"
  if [ "$status" -ne 0 ] && [ -e .env ]; then
    docker-compose logs --no-color --tail 30 validator miner || true
  fi
  [ ! -e .env ] || docker-compose down -v --remove-orphans >/dev/null 2>&1 || true
  rm -rf .env local backups
  exit "$status"
}
trap teardown EXIT

# The validator's series NAME (labels containing MATCH), summed.
metric() {
  curl -fsS http://127.0.0.1:9101/metrics 2>/dev/null |
    awk -v n="$1" -v m="${2:-}" 'index($1, n) == 1 && index($1, m) {s += $2} END {print s + 0}'
}
standings() { curl -fsS http://127.0.0.1:9101/metrics 2>/dev/null | grep '^brainlock_validator_miner_standing' || true; }
history_rows() { docker-compose exec -T postgres psql -U brainlock -d "${1:-brainlock}" -Atc 'select count(*) from queries'; }
wait_passed() { # wait_passed AT_LEAST
  local deadline=$((SECONDS + timeout_s))
  until [ "$(metric brainlock_validator_queries_total 'outcome="passed"')" -ge "$1" ]; do
    [ "$(docker inspect -f '{{.State.Running}}' "$(docker-compose ps -q validator)")" = true ] ||
      fail "the validator container stopped"
    [ $SECONDS -lt $deadline ] || fail "no $1 passed queries after ${timeout_s}s"
    sleep 3
  done
}

log "1. images"
if [ -z "${SKIP_BUILD:-}" ]; then
  scripts/docker-build.sh
fi

log "2. a real network's configuration, from the example (no chain is reachable here)"
cd docker
cp brainlock.env.example .env
! docker-compose config -q 2>/dev/null || fail "config -q accepted the example with its REQUIRED values empty"
log "    config -q on the unedited example: $(docker-compose config -q 2>&1 | tail -1)"
# What an operator fills in (README): netuid, user, wallets folder, public address.
sed -i -e "s|^BRAINLOCK_NETUID=$|BRAINLOCK_NETUID=55|" -e "s|^BRAINLOCK_UID=$|BRAINLOCK_UID=$(id -u)|" \
  -e "s|^BRAINLOCK_GID=$|BRAINLOCK_GID=$(id -g)|" -e "s|^BRAINLOCK_WALLETS=$|BRAINLOCK_WALLETS=$HOME/.bittensor/wallets|" \
  -e "s|^MINER_EXTERNAL_IP=$|MINER_EXTERNAL_IP=203.0.113.7|" .env
mkdir -p data
docker-compose config -q
docker-compose config | grep -E -- '--subtensor.network|--external-ip|/hotkeys|BRAINLOCK_DATABASE|published' | sed 's/^/    /'
rm -rf .env data
cd ..

log "3. a private subnet on a local registry"
scripts/compose-local-env.sh
cd docker
ls -ln local/wallets/*/hotkeys/default | awk '{print "    hotkey file " $1 " uid " $3 " " $9}'
[ -z "$(find local/wallets -path "*/hotkeys/*" -type f -perm /077)" ] || fail "a hotkey file is readable by others"
docker-compose up -d miner
docker-compose up -d
docker-compose ps
[ "$(docker-compose exec -T validator id -u)" = "$(grep ^BRAINLOCK_UID= .env | cut -d= -f2)" ] ||
  fail "the validator does not run as BRAINLOCK_UID"
log "    daemons run as uid $(docker-compose exec -T miner id -u), key files mode 600"

log "4. scored rounds (conv3x3: about a minute per query on 2 cores)"
started=$SECONDS
wait_passed 2
log "    2 queries passed in $((SECONDS - started)) s"
docker-compose logs --tail 50 validator | grep -E 'PASSED|FAILED|weights set' | tail -4 | cut -c1-220
curl -s http://127.0.0.1:9101/metrics | grep brainlock_validator_miner_standing
until curl -s 'http://127.0.0.1:9090/api/v1/query?query=brainlock_validator_queries_total' | grep -q passed; do
  [ $SECONDS -lt $((started + timeout_s)) ] || fail "Prometheus never scraped the validator"
  sleep 5
done
log "    Prometheus: $(curl -s 'http://127.0.0.1:9090/api/v1/query?query=brainlock_validator_queries_total' | cut -c1-200)"

log "5. restart the validator: standings come back from PostgreSQL"
# Read the standings between two equal row counts, so that no query landed meanwhile.
for _ in 1 2 3 4 5 6 7 8 9 10; do
  rows=$(history_rows)
  before=$(standings)
  [ "$rows" != "$(history_rows)" ] || break
done
docker-compose restart validator
[ "$rows" = "$(history_rows)" ] || fail "a query landed during the restart; run again"
deadline=$((SECONDS + 120))
until after=$(standings) && [ -n "$after" ]; do
  [ $SECONDS -lt $deadline ] || fail "no standings published after the restart"
  sleep 2
done
log "    history rows: $rows before and after; standings before: $before"
log "    standings after:  $after"
[ "$before" = "$after" ] || fail "standings changed across the restart"
docker-compose logs --tail 50 validator | grep -o 'miners_restored=[0-9]*' | tail -1 | sed 's/^/    /'
passed=$(metric brainlock_validator_queries_total 'outcome="passed"')
[ "$passed" = 0 ] || fail "a fresh validator process should count from zero"
wait_passed 1
log "    scored again after the restart"

log "6. backup and restore of the history"
mkdir -p backups
docker-compose exec -T postgres pg_dump -U brainlock brainlock > backups/validator.sql
docker-compose exec -T postgres psql -U brainlock -d brainlock -c 'select outcome, count(*) from queries group by outcome'
docker-compose exec -T postgres createdb -U brainlock brainlock_restored
docker-compose exec -T postgres psql -q -U brainlock -d brainlock_restored < backups/validator.sql
dumped=$(grep -c . backups/validator.sql)
restored=$(history_rows brainlock_restored)
log "    dump: $dumped lines; restored copy holds $restored queries (live: $(history_rows))"
[ "$restored" -ge "$rows" ] || fail "the restored copy lost queries"

log "7. upgrade in place"
git pull --ff-only
if [ -z "${SKIP_BUILD:-}" ]; then
  ../scripts/docker-build.sh
fi
docker-compose up -d
docker-compose ps

log "8. tear down"
docker-compose down
[ -z "$(docker ps -aq --filter label=com.docker.compose.project=brainlock-local)" ] || fail "containers left"
docker volume ls -q | grep -q '^brainlock-local_postgres-data$' || fail "down removed the database volume"
docker-compose down -v
! docker volume ls -q | grep -q '^brainlock-local_' || fail "volumes left after down -v"
rm -rf local .env
log "compose walkthrough: OK"
