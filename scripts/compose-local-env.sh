#!/usr/bin/env bash
# Prepares docker/ for a private subnet on a local registry (no chain): two throwaway
# wallets in docker/local/wallets, the registry in docker/local/data/registry.json
# (miner and validator registered, the validator staked), and docker/.env for
# docker/docker-compose.yml with PostgreSQL and Prometheus switched on, as the compose
# project brainlock-local: its containers, volumes and folder are the trial's own, apart
# from a real deployment's. The wallets are
# made by the `brainlock` CLI inside the validator image, as you (as the images' user
# 10001 when you are root), so their key files are yours and mode 600. It refuses to
# overwrite an existing docker/.env.
#
#   scripts/compose-local-env.sh     (after scripts/docker-build.sh)
set -euo pipefail
cd "$(dirname "$0")/../docker"
tag=${BRAINLOCK_TAG:-latest}
[ ! -e .env ] || { echo "docker/.env exists: move it away first (it may be your real network's)" >&2; exit 1; }
docker image inspect "brainlock-validator:$tag" >/dev/null 2>&1 \
  || { echo "brainlock-validator:$tag is missing: run scripts/docker-build.sh first" >&2; exit 1; }

uid=$(id -u) gid=$(id -g)
# Run by root, the daemons would run as root: the images' unprivileged user owns the
# private subnet's files instead.
[ "$uid" != 0 ] || { uid=10001 gid=10001; }
# Validators reach the miner where a real one would be: the host's address, on the
# published port.
external_ip=${MINER_EXTERNAL_IP:-$(hostname -I | awk '{print $1}')}
[ -n "$external_ip" ] || { echo "cannot tell this host's address: set MINER_EXTERNAL_IP" >&2; exit 1; }

mkdir -p local/wallets local/data
[ "$(id -u)" != 0 ] || chown -R "$uid:$gid" local
cli() {
  docker run --rm --user "$uid:$gid" -v "$PWD/local:/local" -v "$PWD/local/data:/data" \
    --entrypoint brainlock "brainlock-validator:$tag" "$@"
}
for wallet in miner validator; do
  # Throwaway hotkeys of a private subnet: their recovery phrases are not kept.
  cli wallet create --wallet.path /local/wallets --wallet.name "$wallet" >/dev/null
done
cli registry register --registry /data/registry.json --wallet.path /local/wallets \
  --wallet.name validator --role validator --stake 100000
cli registry register --registry /data/registry.json --wallet.path /local/wallets \
  --wallet.name miner --role miner

password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
umask 077
cat > .env <<EOF
# Written by scripts/compose-local-env.sh: a private subnet on a local registry.
# docker/brainlock.env.example explains every variable.
COMPOSE_PROJECT_NAME=brainlock-local
COMPOSE_PROFILES=postgres,prometheus
BRAINLOCK_UID=$uid
BRAINLOCK_GID=$gid
BRAINLOCK_NETUID=55
BRAINLOCK_WALLETS=./local/wallets
BRAINLOCK_DATA=./local/data
MINER_EXTERNAL_IP=$external_ip
MINER_ARGS=--registry /data/registry.json --circuit conv3x3
VALIDATOR_ARGS=--registry /data/registry.json --dataset synthetic --weights.interval 1
POSTGRES_PASSWORD=$password
VALIDATOR_DATABASE=postgres://brainlock:$password@postgres:5432/brainlock
EOF
echo "wrote docker/.env: project brainlock-local, netuid 55 on docker/local/data/registry.json, miner announced at $external_ip:8091, validator on PostgreSQL"
