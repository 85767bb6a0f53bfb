"""Trains a small quantization-aware CNN with Brevitas on scikit-learn's bundled
handwritten digits (8x8, 1,797 images: no download) and exports it as QCDQ ONNX.

Everything is seed-fixed. Writes, under --out (default models/digits):
  digits.onnx        the model (3-bit weights and activations, 8-bit input)
  calibration.json   {"inputs": [...]} 256 training images as the model's input integers
  heldout.json       the held-out split: {"inputs", "labels", "predictions"}, with
                     PyTorch's predicted classes
  samples/*.png      a few held-out digits as 8x8 grayscale PNGs, for `brainlock classify`

Input integers are what Brainlock makes of a grayscale image (pixel p in 0..=255 to
x = p / 127.5 - 1, then round(128 x) clamped to int8): the model's input quantizer
has scale 2^-7, so a PNG written here and read by `brainlock classify` gives the very
integers the model was trained and evaluated on.
"""

import argparse
import json
import os

import numpy as np
import torch
from brevitas.core.restrict_val import RestrictValueType
from brevitas.export import export_onnx_qcdq
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU
from brevitas_examples.bnn_pynq.models.common import CommonActQuant
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

SEED = 0
WEIGHT_BITS = 3
ACT_BITS = 3


class DigitsNet(nn.Module):
    """conv 1->8 (3x3, pad 1), conv 8->16 (3x3, pad 1), 2x2 average pool, 256->32->10."""

    def __init__(self):
        super().__init__()
        # Q1.7 input, as Brevitas's CNV: scale 2^-7, int8.
        self.input_quant = QuantIdentity(
            act_quant=CommonActQuant,
            bit_width=8,
            min_val=-1.0,
            max_val=1.0 - 2.0**-7,
            narrow_range=False,
            restrict_scaling_type=RestrictValueType.POWER_OF_TWO,
        )
        conv = dict(kernel_size=3, padding=1, bias=False, weight_bit_width=WEIGHT_BITS)
        self.conv1 = QuantConv2d(1, 8, **conv)
        self.bn1 = nn.BatchNorm2d(8)
        self.act1 = QuantReLU(bit_width=ACT_BITS)
        self.conv2 = QuantConv2d(8, 16, **conv)
        self.bn2 = nn.BatchNorm2d(16)
        self.act2 = QuantReLU(bit_width=ACT_BITS)
        self.pool = nn.AvgPool2d(2)
        self.pool_quant = QuantIdentity(bit_width=ACT_BITS + 2)
        self.fc1 = QuantLinear(16 * 4 * 4, 32, bias=False, weight_bit_width=WEIGHT_BITS)
        self.bn3 = nn.BatchNorm1d(32)
        self.act3 = QuantReLU(bit_width=ACT_BITS, return_quant_tensor=True)
        self.fc2 = QuantLinear(32, 10, bias=False, weight_bit_width=WEIGHT_BITS,
                               return_quant_tensor=True)

    def forward(self, x):
        x = self.input_quant(x)
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.pool_quant(self.pool(x))
        x = torch.flatten(x, 1)
        x = self.act3(self.bn3(self.fc1(x)))
        return self.fc2(x)


class Logits(nn.Module):
    """The model with its logits as the only output (no scale side-outputs)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x).value


def pixels(values):
    """Digit values 0..=16 as 8-bit grayscale pixels."""
    return np.rint(values * 255.0 / 16.0).astype(np.uint8)


def real_input(pixel_values):
    """Pixels to the real input Brainlock's image loader computes."""
    return pixel_values.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def input_integers(real):
    """The model's input quantizer (scale 2^-7, int8), as Brainlock quantizes pixels."""
    return np.clip(np.rint(real * 128.0), -128, 127).astype(np.int64)


def logits_of(model, x):
    out = model(x)
    return out.value, out.scale


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="models/digits")
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args()

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    digits = load_digits()
    px = pixels(digits.images)  # (n, 8, 8) uint8
    x_train, x_test, y_train, y_test = train_test_split(
        px, digits.target, test_size=0.25, random_state=SEED, stratify=digits.target)
    to_tensor = lambda a: torch.from_numpy(real_input(a)).unsqueeze(1)
    xt, xv = to_tensor(x_train), to_tensor(x_test)
    yt, yv = torch.from_numpy(y_train).long(), torch.from_numpy(y_test).long()

    model = DigitsNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(xt), 64):
            batch = order[start:start + 64]
            optimizer.zero_grad()
            logits, _ = logits_of(model, xt[batch])
            loss = loss_fn(logits, yt[batch])
            loss.backward()
            optimizer.step()
        schedule.step()
        if (epoch + 1) % 10 == 0:
            model.eval()
            with torch.no_grad():
                logits, _ = logits_of(model, xv)
            accuracy = (logits.argmax(1) == yv).float().mean().item()
            print(f"epoch {epoch + 1}: loss {loss.item():.3f}, held-out accuracy {accuracy:.4f}")

    model.eval()
    with torch.no_grad():
        logits, _ = logits_of(model, xv)
    predictions = logits.argmax(1)
    accuracy = (predictions == yv).float().mean().item()
    print(f"PyTorch/Brevitas held-out accuracy: {accuracy:.4f} "
          f"({int((predictions == yv).sum())}/{len(yv)})")

    os.makedirs(os.path.join(args.out, "samples"), exist_ok=True)
    export_onnx_qcdq(Logits(model), args=xv[:1],
                     export_path=os.path.join(args.out, "digits.onnx"),
                     opset_version=13, dynamo=False)
    heldout = {
        "labels": y_test.tolist(),
        "predictions": predictions.tolist(),
        "inputs": input_integers(real_input(x_test)).reshape(len(x_test), -1).tolist(),
    }
    calibration = {
        "inputs": input_integers(real_input(x_train[:256])).reshape(256, -1).tolist(),
    }
    for name, value in [("heldout.json", heldout), ("calibration.json", calibration)]:
        with open(os.path.join(args.out, name), "w") as f:
            json.dump(value, f, separators=(",", ":"))
            f.write("\n")
    from PIL import Image
    for i in range(4):
        path = os.path.join(args.out, "samples", f"heldout-{i}-label-{y_test[i]}.png")
        Image.fromarray(x_test[i], mode="L").save(path)


if __name__ == "__main__":
    main()
