#!/usr/bin/env bash
# Builds every image docker/docker-compose.yml runs: brainlock-miner,
# brainlock-validator, brainlock-postgres and brainlock-prometheus (tag BRAINLOCK_TAG,
# default latest). Where a container registry answers, from public images (the Rust
# toolchain compiles inside Docker; PostgreSQL and Prometheus are the official images,
# re-tagged); where none does, from a local Debian base image (debootstrap) with the
# daemons compiled on this host and PostgreSQL and Prometheus from Debian's packages.
#
#   scripts/docker-build.sh            # picks by asking the registry
#   scripts/docker-build.sh --public   # or --local: no question asked
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${BRAINLOCK_TAG:-latest}
compose=(docker-compose -f docker/docker-compose.yml)
docker compose version >/dev/null 2>&1 && compose=(docker compose -f docker/docker-compose.yml)
# Building needs none of an operator's settings; compose checks them only when they are used.
export BRAINLOCK_UID=0 BRAINLOCK_GID=0 BRAINLOCK_NETUID=0 BRAINLOCK_WALLETS=/nonexistent

mode=${1:-}
if [ -z "$mode" ]; then
  if timeout 60 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
    mode=--public
  else
    echo "no container registry answers: building from a local base image"
    mode=--local
  fi
fi

case "$mode" in
  --public)
    "${compose[@]}" build miner validator
    docker pull -q postgres:15-bookworm
    docker tag postgres:15-bookworm "brainlock-postgres:$tag"
    docker pull -q prom/prometheus:v2.55.1
    docker tag prom/prometheus:v2.55.1 "brainlock-prometheus:$tag"
    ;;
  --local)
    base=${BASE_IMAGE:-brainlock/base:bookworm}
    scripts/docker-base-image.sh "$base"
    echo "compiling release binaries on the host ..."
    cargo build --release --locked -p brainlock-miner -p brainlock-validator -p brainlock-cli
    BUILDER_IMAGE=$base RUNTIME_IMAGE=$base PREBUILT=1 "${compose[@]}" build miner validator
    docker build -q --build-arg BASE_IMAGE="$base" -t "brainlock-postgres:$tag" docker/postgres >/dev/null
    docker build -q --build-arg BASE_IMAGE="$base" -t "brainlock-prometheus:$tag" docker/prometheus >/dev/null
    ;;
  *) echo "usage: $0 [--public|--local]" >&2; exit 2 ;;
esac
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E "^brainlock-[a-z]+:$tag "
scripts/docker-image-audit.sh "brainlock-miner:$tag" "brainlock-validator:$tag"
