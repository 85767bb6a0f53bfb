#!/usr/bin/env bash
# Can a miner tell customers' requests from scored ones? Runs the detector test
# (crates/devnet/tests/organic_detector.rs: two loopback runs of >= 200 relayed and
# >= 200 scored requests each on real ciphertexts, about half an hour on 2 cores) and
# prints its table: per feature, the AUC on the training run and on the fresh run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test -p brainlock-devnet --test organic_detector -- --ignored --nocapture 2>&1 \
    | grep -E '^\||^training run|^test |test result|panicked|AUC'
