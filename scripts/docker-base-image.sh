#!/usr/bin/env bash
# Builds a minimal Debian base image from scratch (debootstrap + docker import), for
# machines that reach Debian's package mirror but no container registry. Elsewhere,
# the Dockerfiles use public images (debian:bookworm-slim) and this script is not needed.
#
#   scripts/docker-base-image.sh [IMAGE_TAG]     (default brainlock/base:bookworm; needs root)
set -euo pipefail
tag=${1:-brainlock/base:bookworm}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag already present"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is required (apt-get install debootstrap)" >&2; exit 1; }

rootfs=$(mktemp -d /tmp/brainlock-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "debootstrap $suite into $rootfs ..."
debootstrap --variant=minbase --include=ca-certificates "$suite" "$rootfs" "$mirror" >/dev/null
# Keep the image small: package caches and docs are of no use at run time.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
       "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
tar -C "$rootfs" -c . | docker import - "$tag" >/dev/null
echo "built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
