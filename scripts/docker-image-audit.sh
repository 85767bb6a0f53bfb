#!/usr/bin/env bash
# Fails when any layer of the given images holds a wallet, a key or a data file: the
# names .dockerignore keeps out of build contexts (wallet folders, hotkeys, coldkeys,
# registries and their weight ledgers, SQLite databases, environment files).
# Every layer is read, not only the final file system, so a file added in one layer
# and deleted in a later one is found too.
#
#   scripts/docker-image-audit.sh IMAGE...
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 IMAGE..." >&2; exit 2; }
pattern='(^|/)(wallets|\.bittensor|hotkeys)(/|$)|(^|/)coldkey[^/]*$|(^|/)registry[^/]*\.json$|\.weights\.jsonl$|\.sqlite[^/]*$|(^|/)\.env$'

work=$(mktemp -d /tmp/brainlock-audit.XXXXXX)
trap 'rm -rf "$work"' EXIT
status=0
for image in "$@"; do
  rm -rf "${work:?}"/*
  docker save "$image" | tar -x -C "$work"
  # Layers are tar files: layer.tar in the classic layout, blobs in the OCI layout.
  layers=0 entries=0 found=""
  while IFS= read -r -d '' blob; do
    listing=$(tar -tf "$blob" 2>/dev/null) || continue
    layers=$((layers + 1))
    entries=$((entries + $(printf '%s\n' "$listing" | grep -c .)))
    hits=$(printf '%s\n' "$listing" | sed 's|^\./||' | grep -E "$pattern" | grep -vE '^usr/(share|lib)/' || true)
    [ -z "$hits" ] || found+="$hits"$'\n'
  done < <(find "$work" -type f \( -name layer.tar -o -path '*/blobs/sha256/*' \) -print0)
  if [ "$layers" -eq 0 ]; then
    echo "$image: no layer could be read" >&2
    status=1
  elif [ -n "$found" ]; then
    echo "$image: FORBIDDEN files in its layers:" >&2
    printf '%s' "$found" | sed 's/^/  /' >&2
    status=1
  else
    echo "$image: $layers layers, $entries entries, no wallet, key or data file"
  fi
done
exit $status
