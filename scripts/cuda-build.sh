#!/usr/bin/env bash
# Builds Brainlock with the CUDA backend (cargo feature `cuda`): the miner, the
# `brainlock` CLI (for `brainlock bench --backend cuda`) and the engine's CUDA test
# binaries, in target/cuda/. CPU builds and CI never need any of this.
#
#     scripts/cuda-build.sh          # build (needs nvcc, CMake and a C++ compiler)
#     scripts/cuda-build.sh check    # type-check only: no nvcc, no GPU (minutes)
#
# nvcc: a CUDA toolkit on PATH (/usr/local/cuda/bin is added when present), 12.x or
# 13.x, matching the GPU's driver. On a machine without one, NVIDIA's wheels from PyPI
# give the compiler (`pip install nvidia-cuda-nvcc-cu12 nvidia-cuda-runtime-cu12 cmake`
# in a virtual environment, then point CUDA_HOME at it); tfhe-rs's CUDA backend also
# wants CMake >= 3.24. Building tfhe-cuda-backend's kernels takes long on few cores.
#
# `check` sets DOCS_RS=1, which tfhe-cuda-backend's and our build scripts honour by
# skipping the CUDA compilation, and uses its own target directory so that a later real
# build never picks up those skipped outputs.
set -euo pipefail
cd "$(dirname "$0")/.."

features=(--features brainlock-fhe/cuda,brainlock-miner/cuda,brainlock-cli/cuda)
packages=(-p brainlock-fhe -p brainlock-miner -p brainlock-cli)

if [[ ${1:-} == check ]]; then
    start=$(date +%s)
    DOCS_RS=1 cargo check --target-dir target/cuda-check "${packages[@]}" "${features[@]}" \
        --all-targets
    DOCS_RS=1 cargo clippy --target-dir target/cuda-check "${packages[@]}" "${features[@]}" \
        --all-targets -- -D warnings
    echo "cuda check: the backend type-checks and is clippy-clean ($(($(date +%s) - start)) s)"
    exit 0
fi

[[ -d /usr/local/cuda/bin ]] && export PATH="/usr/local/cuda/bin:$PATH"
command -v nvcc >/dev/null || {
    echo "nvcc not found: install a CUDA toolkit or see this script's header" >&2
    exit 1
}
nvcc --version | tail -1
cargo build --release --target-dir target/cuda "${features[@]}" \
    -p brainlock-miner -p brainlock-cli
cargo test --release --target-dir target/cuda -p brainlock-fhe --features cuda --no-run
echo "built: target/cuda/release/{brainlock-miner,brainlock}; run scripts/gpu-bench.sh"
