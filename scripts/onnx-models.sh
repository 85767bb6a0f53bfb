#!/usr/bin/env bash
# The Brevitas models behind `brainlock circuit import`, and the figures that say the
# import is right.
#
#   scripts/onnx-models.sh train   # retrain the committed digits model (models/digits)
#   scripts/onnx-models.sh check   # import and measure (the default):
#       digits: PyTorch vs Brainlock's simulation on the 450 held-out digits, and
#               ENCRYPTED (default 50) of them encrypted on this machine;
#       CNV 2w2a: a seeded Brevitas CNV exported to target/cnv, imported at R = 12
#               (every table exact) and R = 6, its simulation against Brevitas's
#               integer logits on 100 synthetic images.
#
# Python lives in scripts/.venv-onnx (gitignored), pinned below; the first run
# installs it from PyPI (torch is large). Rust needs nothing from it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=scripts/.venv-onnx
PYTHON="${PYTHON:-python3}"
ENCRYPTED="${ENCRYPTED:-50}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import brevitas, onnxoptimizer, sklearn, PIL" 2>/dev/null; then
    "$VENV/bin/pip" install --quiet torch==2.15.0 brevitas==0.13.4 onnx==1.23.2 \
        onnxoptimizer scikit-learn==1.9.1 pillow
fi
py() { "$VENV/bin/python" -W ignore "$@"; }

case "${1:-check}" in
train)
    py scripts/onnx/train_digits.py --out models/digits
    ;;
check)
    cargo build --quiet -p brainlock-cli
    brainlock=target/debug/brainlock
    out=target/onnx-check
    mkdir -p "$out"
    echo "== digits (models/digits)"
    "$brainlock" circuit import models/digits/digits.onnx \
        --calibration models/digits/calibration.json -o "$out/digits.json"
    "$brainlock" circuit check "$out/digits.json" --against models/digits/heldout.json \
        --encrypted "$ENCRYPTED"
    echo "== Brevitas CNV 2w2a (seeded, random weights)"
    py scripts/onnx/export_cnv.py --out target/cnv
    for r in 12 6; do
        "$brainlock" circuit import target/cnv/cnv.onnx --calibration target/cnv/calibration.json \
            --rounding-bits "$r" --id cnv -o "$out/cnv-r$r.json" | tail -n 14
        "$brainlock" circuit check "$out/cnv-r$r.json" --against target/cnv/check.json
    done
    ;;
*)
    echo "usage: $0 [train|check]" >&2
    exit 2
    ;;
esac
