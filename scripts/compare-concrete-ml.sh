#!/usr/bin/env bash
# Times Concrete-ML 1.9 and Brainlock's engine on the same conv3x3 workload (BatchNorm + GELU
# + 8-bit quantizer folded into one table per output), on this machine: 3 rounds of one
# encrypted image per side, the sides in turn; prints each round's ratio and the medians.
#
#   scripts/compare-concrete-ml.sh            # install (first time) and compare
#   RUNS=5 scripts/compare-concrete-ml.sh
#   BASELINE=<git rev> scripts/compare-concrete-ml.sh   # also time Brainlock at <rev>
#
# The host's load drifts over minutes (Concrete-ML alone has measured 28 s and 46 s on the
# same machine), so the sides take turns image by image: each round's ratio compares
# times taken a minute apart, and the sides swap places every round. With BASELINE, the
# older engine is built from a temporary worktree into the same target directory
# (dependencies are reused) and takes its turn in every round.
#
# The Python side lives in a venv under scripts/.venv-concrete (gitignored); the first
# run downloads concrete-ml and its dependencies (torch, brevitas) from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
if ! [ "$RUNS" -ge 1 ] 2>/dev/null; then
    echo "RUNS must be a whole number of rounds, 1 or more (got '$RUNS')" >&2
    exit 2
fi
VENV=scripts/.venv-concrete
PYTHON="${PYTHON:-python3.11}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import concrete.ml" 2>/dev/null; then
    "$VENV/bin/pip" install --quiet "concrete-ml==1.9.*"
fi

case "${CARGO_TARGET_DIR:-target}" in
    /*) target="$CARGO_TARGET_DIR" ;;
    *) target="$(pwd)/${CARGO_TARGET_DIR:-target}" ;;
esac
echo "== building Brainlock" >&2
# A baseline built from a worktree leaves its binary in target/release/brainlock while
# cargo still counts the current one as fresh: touching a source makes it relink.
touch crates/cli/src/main.rs
cargo build --quiet --release -p brainlock-cli --bin brainlock
cp "$target/release/brainlock" "$target/release/brainlock-current"
if [ -n "${BASELINE:-}" ]; then
    echo "== building Brainlock at $BASELINE" >&2
    worktree="$(mktemp -d)"
    trap 'git worktree remove --force "$worktree" 2>/dev/null || true' EXIT
    git worktree add --quiet --detach "$worktree" "$BASELINE"
    (cd "$worktree" && CARGO_TARGET_DIR="$target" cargo build --quiet --release -p brainlock-cli --bin brainlock)
    cp "$target/release/brainlock" "$target/release/brainlock-baseline"
    git worktree remove --force "$worktree"
    cp "$target/release/brainlock-current" "$target/release/brainlock"
fi

concrete=() ours=() baseline=()
time_concrete() {
    echo "== round $round of $RUNS: Concrete-ML" >&2
    concrete+=("$("$VENV/bin/python" scripts/compare_concrete_ml.py --runs 1 --image-seed "$round")")
}
time_brainlock() {
    echo "== round $round of $RUNS: Brainlock (tfhe-rs core_crypto)" >&2
    ours+=("$("$target/release/brainlock-current" bench --circuit conv3x3 --images 1 2>/dev/null)")
    if [ -n "${BASELINE:-}" ]; then
        echo "== round $round of $RUNS: Brainlock at $BASELINE" >&2
        baseline+=("$("$target/release/brainlock-baseline" bench --circuit conv3x3 --images 1 2>/dev/null)")
    fi
}
# The sides swap places every round, so that neither always follows the other's
# untimed setup (Concrete-ML's compilation and key generation, Brainlock's keys).
for round in $(seq 1 "$RUNS"); do
    if [ $((round % 2)) -eq 1 ]; then
        time_concrete
        time_brainlock
    else
        time_brainlock
        time_concrete
    fi
done
json_list() { local IFS=,; echo "[$*]"; }
concrete_json="$(json_list "${concrete[@]}")"
ours_json="$(json_list "${ours[@]}")"
baseline_json="$(json_list "${baseline[@]+"${baseline[@]}"}")"
printf '%s\n' "$concrete_json" "$ours_json" "$baseline_json"

"$VENV/bin/python" - "$concrete_json" "$ours_json" "$baseline_json" <<'PY'
import json, statistics, sys
concrete, ours, baseline = (json.loads(a) for a in sys.argv[1:4])
seconds = lambda runs: [r["median_latency_seconds"] for r in runs]
c = seconds(concrete)
def report(name, runs):
    t = seconds(runs)
    ratios = [a / b for a, b in zip(t, c)]
    print(f"{name}: median {statistics.median(t):.2f} s; ratio to concrete-ml per round "
          f"{', '.join(f'{r:.3f}' for r in ratios)}, median {statistics.median(ratios):.3f}")
print(f"conv3x3 encrypted latency over {len(c)} rounds: concrete-ml median "
      f"{statistics.median(c):.2f} s ({', '.join(f'{s:.2f}' for s in c)})")
report("brainlock", ours)
if baseline:
    report("brainlock at the baseline", baseline)
    print(f"result bytes {baseline[-1]['output_bytes']} -> {ours[-1]['output_bytes']}")
print(f"brainlock output against the exact simulation: cosine "
      f"{statistics.mean(r['cosine'] for r in ours):.4f}, exact match "
      f"{statistics.mean(r['exact_match_fraction'] for r in ours):.4f}")
print(f"evaluation keys: concrete-ml {concrete[0]['eval_key_bytes'] / 1e6:.1f} MB, "
      f"brainlock {ours[0]['eval_key_compressed_bytes'] / 1e6:.1f} MB compressed")
PY
