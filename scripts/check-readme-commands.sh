#!/usr/bin/env bash
# Every command of the README's "Run with Docker Compose" section (the shell blocks
# between its compose-commands markers) must appear, as written, in
# scripts/compose-walkthrough.sh, which runs them against Docker. CI runs this check;
# the walkthrough itself needs Docker and about half an hour.
set -euo pipefail
cd "$(dirname "$0")/.."
script=scripts/compose-walkthrough.sh
commands=$(awk '
  /<!-- compose-commands:begin -->/ {on = 1; next}
  /<!-- compose-commands:end -->/ {on = 0}
  on && /^```sh/ {block = 1; next}
  on && /^```/ {block = 0; next}
  on && block' README.md)
[ -n "$commands" ] || { echo "README: no commands between the compose-commands markers" >&2; exit 1; }
body=$(grep -v '^\s*#' "$script")
missing=0 count=0
while IFS= read -r line; do
  line=${line%%  #*}
  [ -n "$line" ] || continue
  count=$((count + 1))
  if ! grep -qF -- "$line" <<< "$body"; then
    echo "README command not run by $script: $line" >&2
    missing=$((missing + 1))
  fi
done <<< "$commands"
[ "$missing" -eq 0 ] || exit 1
echo "README compose section: all $count commands are run by $script"
