#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo-fuzz, libFuzzer) for a fixed budget and prints
# a table: executions, coverage, peak memory and crashes per target.
#
#     scripts/fuzz.sh                        # the targets without tfhe, 30 minutes each
#     scripts/fuzz.sh --fhe                  # every target (13 minutes more of building)
#     scripts/fuzz.sh 60 circuit_file        # one target, 60 seconds
#     scripts/fuzz.sh --runs 1000000 --fhe 1800 evaluation_key
#                                            # stop at a million executions or 30 minutes
#
# Needs the nightly toolchain and cargo-fuzz (`cargo +nightly install cargo-fuzz`). The
# targets are built without a sanitizer: our code is safe Rust, so what fuzzing finds
# is panics, allocations past the RSS limit and hangs, which libFuzzer reports itself.
# A crash input lands in fuzz/artifacts/TARGET/; turn it into a regression test in the
# crate that owns the decoder, then delete it.
set -euo pipefail
cd "$(dirname "$0")/.."

features=()
runs=()
while [[ ${1:-} == --* ]]; do
    case $1 in
        --fhe) features=(--features fhe); shift ;;
        --runs) runs=("-runs=$2"); shift 2 ;;
        *) echo "usage: $0 [--fhe] [--runs N] [SECONDS [TARGET...]]" >&2; exit 2 ;;
    esac
done
budget=${1:-1800}
shift || true
targets=("$@")

# Seeds: the files users really write, so that the fuzzer starts past the parsers.
seed() { mkdir -p "fuzz/corpus/$1"; cp "${@:2}" "fuzz/corpus/$1/" 2>/dev/null || true; }
seed miner_config configs/miner.toml configs/compose/miner.toml
seed validator_config configs/validator.toml configs/compose/validator.toml
if [[ ! -e fuzz/corpus/dataset_image/4x4.png ]]; then
    mkdir -p fuzz/corpus/dataset_image
    python3 - fuzz/corpus/dataset_image/4x4.png <<'PY'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
rows = b"".join(b"\x00" + bytes(v for x in range(4) for v in (x * 60, y * 60, 128)) for y in range(4))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
fi
if [[ ! -e fuzz/corpus/circuit_file/test-tiny.json ]]; then
    mkdir -p fuzz/corpus/circuit_file
    cargo run -q -p brainlock-cli -- circuit export --circuit test-tiny \
        --output fuzz/corpus/circuit_file/test-tiny.json
fi
# Written anew each time: a seed from before a wire-format change would stop at the header.
if [[ ${#features[@]} -gt 0 ]]; then
    cargo run -q -p brainlock-fhe --example fuzz_seeds -- fuzz/corpus
fi
if [[ ! -e fuzz/corpus/onnx_model/digits.onnx ]]; then
    mkdir -p fuzz/corpus/onnx_model
    cp models/digits/digits.onnx fuzz/corpus/onnx_model/
fi

(cd fuzz && cargo +nightly fuzz build --sanitizer none "${features[@]}")
if [[ ${#targets[@]} -eq 0 ]]; then
    # Every target whose required features are on: those behind tfhe only with --fhe.
    mapfile -t targets < <(python3 - "${features[@]}" <<'PY'
import sys, tomllib
enabled = set(sys.argv[2:])
for target in tomllib.load(open("fuzz/Cargo.toml", "rb"))["bin"]:
    if set(target.get("required-features", [])) <= enabled:
        print(target["name"])
PY
)
fi

mkdir -p fuzz/logs
printf '| target | seconds | executions | exec/s | coverage | peak RSS MB | crashes |\n'
printf '|---|---:|---:|---:|---:|---:|---:|\n'
for target in "${targets[@]}"; do
    log="fuzz/logs/$target.log"
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    set +e
    began=$SECONDS
    (cd fuzz && cargo +nightly fuzz run --sanitizer none "${features[@]}" "$target" -- \
        -max_total_time="$budget" "${runs[@]}" -rss_limit_mb=4096 -malloc_limit_mb=4096 \
        -timeout=30 -print_final_stats=1 -close_fd_mask=3) >"$log" 2>&1
    seconds=$((SECONDS - began))
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -o '[0-9]*')
    # libFuzzer's findings; a slow-unit-* file (one input past 10 s, such as the first
    # one of a target that generates its client key) is a note, not a crash.
    crashes=$(find "fuzz/artifacts/$target" -type f \( -name 'crash-*' -o -name 'oom-*' \
        -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
    rate=$(( ${execs:-0} / (seconds > 0 ? seconds : 1) ))
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' \
        "$target" "$seconds" "${execs:-?}" "$rate" "${cov:-?}" "${rss:-?}" "$crashes"
done
