#!/usr/bin/env bash
# Builds the brainlock-miner and brainlock-validator images of docker/docker-compose.yml.
#
#   scripts/docker-build.sh            # offline: a local Debian base image (debootstrap,
#                                      # docker import) and binaries compiled on this host
#   scripts/docker-build.sh --public   # public base images, compiled inside Docker
set -euo pipefail
cd "$(dirname "$0")/.."
compose=(docker-compose -f docker/docker-compose.yml)
docker compose version >/dev/null 2>&1 && compose=(docker compose -f docker/docker-compose.yml)

if [ "${1:-}" = --public ]; then
  "${compose[@]}" build miner validator
  exit 0
fi

base=${BASE_IMAGE:-brainlock/base:bookworm}
scripts/docker-base-image.sh "$base"
echo "compiling release binaries on the host ..."
cargo build --release --locked -p brainlock-miner -p brainlock-validator -p brainlock-cli
BUILDER_IMAGE=$base RUNTIME_IMAGE=$base PREBUILT=1 "${compose[@]}" build miner validator
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E '^brainlock-(miner|validator):'
