#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: the engine's encrypted tests on the CUDA backend
# (the CPU engine's results item for item, and the encrypted suite run on CUDA), then
# `brainlock bench --backend cuda` for conv3x3 and VGG9, printing each JSON line with
# the GPU's model. Builds with scripts/cuda-build.sh first unless SKIP_BUILD=1.
#
#     scripts/gpu-bench.sh               # tests, conv3x3 (10 images), VGG9 (3 images)
#     IMAGES=3 VGG9_IMAGES=1 scripts/gpu-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

[[ ${SKIP_BUILD:-0} == 1 ]] || scripts/cuda-build.sh
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)
echo "gpu: $gpu"

# CUDA against CPU, item for item; then the encrypted suite with CUDA as its backend.
cargo test --release --target-dir target/cuda -p brainlock-fhe --features cuda \
    --test cuda_backend -- --test-threads 1
BRAINLOCK_TEST_BACKEND=cuda cargo test --release --target-dir target/cuda -p brainlock-fhe \
    --features cuda --test encrypted -- --test-threads 1

bench() {
    local line
    line=$(target/cuda/release/brainlock bench --backend cuda --circuit "$1" --images "$2" \
        | tail -1)
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r["gpu"]=sys.argv[2]; print(json.dumps(r))' \
        "$line" "$gpu"
}
bench conv3x3 "${IMAGES:-10}"
bench vgg9 "${VGG9_IMAGES:-3}"
