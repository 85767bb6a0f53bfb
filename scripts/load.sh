#!/usr/bin/env bash
# The load run: one real miner on loopback (test-tiny circuit, one worker, a queue of
# four) under infer requests signed as its validator, then a customer's through that
# validator's gateway, each offered at 0.5, 1, 2, 4 and 8 times the measured capacity,
# STEP seconds a rate (default 60). Prints per step the offered and served rates,
# refusals by code, latency percentiles and resident memory, then the highest
# sustained rate. The same test (crates/devnet/tests/load.rs) runs in CI with
# 4-second steps.
#
#     scripts/load.sh        # 60-second steps (about 12 minutes)
#     scripts/load.sh 20
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD_STEP_SECS=${1:-60} cargo test -p brainlock-devnet --test load -- --nocapture 2>&1 |
    grep -E '^(load run|offered|highest|test )'
