"""Exports a randomly initialized Brevitas CNV 2w2a ("VGG9": ternary weights and
activations, 8-bit input) as QCDQ ONNX, with synthetic images and Brevitas's own
integer logits for them. No trained CNV weights can be downloaded here: the weights
are Brevitas's seeded initialization, and each BatchNorm's statistics come from the
synthetic images (then its gain and shift are perturbed, seeded) so that every
layer's thresholds sit where real activations fall.

Writes, under --out (default target/cnv):
  cnv.onnx            the model
  calibration.json    {"inputs": [...]}: 64 synthetic images as input integers
  check.json          {"inputs", "predictions", "logits"}: 100 other synthetic images,
                      Brevitas's classes and integer logits (the last QuantLinear's
                      output over its scale, before TensorNorm)

Input integers are the model's input quantizer's (scale 2^-7, int8) on 2x - 1.
"""

import argparse
import json
import os

import numpy as np
import torch
from brevitas.export import export_onnx_qcdq
from brevitas.nn import QuantLinear
from brevitas_examples.bnn_pynq.models.CNV import CNV
from torch import nn

SEED = 0


def synthetic_images(rng, count):
    """Smooth random images (upsampled 4x4 noise plus pixel noise) as input integers."""
    coarse = rng.normal(0.0, 50.0, size=(count, 3, 4, 4))
    smooth = coarse.repeat(8, axis=2).repeat(8, axis=3)
    noisy = smooth + rng.normal(0.0, 12.0, size=smooth.shape)
    return np.clip(np.rint(noisy), -128, 127).astype(np.int64)


def to_unit(q):
    """Input integers to the [0, 1] input CNV takes (it computes 2x - 1 itself)."""
    return torch.from_numpy((q / 128.0 + 1.0) / 2.0).float()


class Logits(nn.Module):
    """CNV up to the last QuantLinear, plus its TensorNorm, as the exported graph."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)


def integer_logits(model, x):
    """The last QuantLinear's output over its scale: Brevitas's integer forward pass."""
    captured = {}
    last = [m for m in model.linear_features if isinstance(m, QuantLinear)][-1]
    handle = last.register_forward_hook(lambda m, i, o: captured.setdefault("out", o))
    model(x)
    handle.remove()
    out = captured["out"]
    scale = last.quant_weight().scale * 1.0  # input activations are ternary, scale 1
    ints = out / scale
    assert torch.allclose(ints, torch.round(ints), atol=1e-3), "logits are not integers"
    return torch.round(ints).to(torch.int64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="target/cnv")
    args = parser.parse_args()
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    os.makedirs(args.out, exist_ok=True)

    model = CNV(num_classes=10, weight_bit_width=2, act_bit_width=2, in_bit_width=8, in_ch=3)
    calibration = synthetic_images(rng, 64)
    check = synthetic_images(rng, 100)
    # BatchNorm statistics from the synthetic images, layer by layer (cumulative).
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            m.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(to_unit(calibration))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                m.weight.mul_(torch.empty_like(m.weight).uniform_(0.5, 1.5))
                m.bias.add_(torch.empty_like(m.bias).normal_(0.0, 0.3))
    model.eval()

    with torch.no_grad():
        logits = integer_logits(model, to_unit(check))
        predictions = model(to_unit(check)).argmax(1)
    export_onnx_qcdq(Logits(model), args=to_unit(check[:1]),
                     export_path=os.path.join(args.out, "cnv.onnx"), opset_version=13,
                     dynamo=False)
    files = {
        "calibration.json": {"inputs": calibration.reshape(64, -1).tolist()},
        "check.json": {
            "inputs": check.reshape(100, -1).tolist(),
            "predictions": predictions.tolist(),
            "logits": logits.tolist(),
        },
    }
    for name, value in files.items():
        with open(os.path.join(args.out, name), "w") as f:
            json.dump(value, f, separators=(",", ":"))
    spread = logits.float().std(0).mean().item()
    print(f"exported CNV 2w2a to {args.out}: logits std {spread:.1f}, "
          f"classes predicted {sorted(set(predictions.tolist()))}")


if __name__ == "__main__":
    main()
