#!/usr/bin/env bash
# Times Concrete-ML 1.9 and Brainlock's engine on the same conv3x3 workload (BatchNorm + GELU
# + 8-bit quantizer folded into one table per output), on this machine: 3 encrypted runs
# each, prints both medians and the ratio.
#
#   scripts/compare-concrete-ml.sh            # install (first time) and compare
#   RUNS=5 scripts/compare-concrete-ml.sh
#   BASELINE=<git rev> scripts/compare-concrete-ml.sh   # also time Brainlock at <rev>
#
# With BASELINE, the older engine is built from a temporary worktree into the same
# target directory (dependencies are reused) and timed right after the current one, so
# that both ratios come from one run on one machine state.
#
# The Python side lives in a venv under scripts/.venv-concrete (gitignored); the first
# run downloads concrete-ml and its dependencies (torch, brevitas) from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
VENV=scripts/.venv-concrete
PYTHON="${PYTHON:-python3.11}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import concrete.ml" 2>/dev/null; then
    "$VENV/bin/pip" install --quiet "concrete-ml==1.9.*"
fi

echo "== Concrete-ML" >&2
concrete_json="$("$VENV/bin/python" scripts/compare_concrete_ml.py --runs "$RUNS")"
echo "$concrete_json"

echo "== Brainlock (tfhe-rs core_crypto)" >&2
cargo build --quiet --release -p brainlock-cli --bin brainlock
ours_json="$("${CARGO_TARGET_DIR:-target}/release/brainlock" bench --circuit conv3x3 --images "$RUNS" 2>/dev/null)"
echo "$ours_json"

baseline_json="null"
if [ -n "${BASELINE:-}" ]; then
    echo "== Brainlock at $BASELINE" >&2
    worktree="$(mktemp -d)"
    git worktree add --quiet --detach "$worktree" "$BASELINE"
    target="$(pwd)/${CARGO_TARGET_DIR:-target}"
    (cd "$worktree" && CARGO_TARGET_DIR="$target" cargo build --quiet --release -p brainlock-cli --bin brainlock)
    cp "$target/release/brainlock" "$target/release/brainlock-baseline"
    git worktree remove --force "$worktree"
    baseline_json="$("$target/release/brainlock-baseline" bench --circuit conv3x3 --images "$RUNS" 2>/dev/null)"
    echo "$baseline_json"
    # Leave the current engine as target/release/brainlock.
    cargo build --quiet --release -p brainlock-cli --bin brainlock
fi

"$VENV/bin/python" - "$concrete_json" "$ours_json" "$baseline_json" <<'PY'
import json, sys
concrete, ours, baseline = (json.loads(a) for a in sys.argv[1:4])
c, o = concrete["median_latency_seconds"], ours["median_latency_seconds"]
print(f"conv3x3 encrypted latency, median of {len(ours['latencies_seconds'])}: "
      f"concrete-ml {c:.2f} s, brainlock {o:.2f} s, "
      f"ratio brainlock/concrete-ml {o / c:.3f}")
if baseline:
    b = baseline["median_latency_seconds"]
    print(f"brainlock at the baseline: {b:.2f} s, ratio {b / c:.3f}; "
          f"result bytes {baseline['output_bytes']} -> {ours['output_bytes']}")
print(f"brainlock output cosine with the exact simulation: {ours['cosine']:.4f}, "
      f"exact match {ours['exact_match_fraction']:.4f}")
print(f"evaluation keys: concrete-ml {concrete['eval_key_bytes'] / 1e6:.1f} MB, "
      f"brainlock {ours['eval_key_compressed_bytes'] / 1e6:.1f} MB compressed")
PY
