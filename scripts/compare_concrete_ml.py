"""Concrete-ML side of scripts/compare-concrete-ml.sh: the subnet's conv3x3 workload
(3->3 channels, 3x3 kernel, padding 1, 4-bit weights, 8-bit input, BatchNorm, GELU and
an 8-bit output quantizer) compiled with 6-bit approximate rounding and p_error 0.01,
then timed in FHE. BatchNorm, GELU and the quantizer fold into one table per output,
so both sides run 3,072 programmable bootstraps. Prints one JSON line."""

import argparse
import json
import statistics
import time

import numpy as np
import torch
from brevitas.nn import QuantConv2d, QuantIdentity
from concrete.fhe import Exactness
from concrete.ml.torch.compile import compile_brevitas_qat_model
from torch import nn


class Conv3x3(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant_in = QuantIdentity(bit_width=8, return_quant_tensor=True)
        self.conv = QuantConv2d(3, 3, kernel_size=3, stride=1, padding=1, bias=False, weight_bit_width=4)
        self.bn = nn.BatchNorm2d(3, eps=1e-4)
        # Non-affine, as every scored Brainlock workload (DESIGN section 5).
        self.act = nn.GELU()
        self.quant_out = QuantIdentity(bit_width=8)

    def forward(self, x):
        return self.quant_out(self.act(self.bn(self.conv(self.quant_in(x)))))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="the model's weights and calibration")
    parser.add_argument("--image-seed", type=int, default=0, help="the encrypted images")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    model = Conv3x3()
    # Warm BatchNorm statistics on inputs like the images (values in [-1, 1]).
    calibration = torch.rand(256, 3, 32, 32) * 2 - 1
    model.train()
    with torch.no_grad():
        model(calibration)
    model.eval()

    start = time.time()
    module = compile_brevitas_qat_model(
        torch_model=model,
        torch_inputset=calibration[:100],
        p_error=0.01,
        rounding_threshold_bits={"method": Exactness.APPROXIMATE, "n_bits": 6},
        n_bits={"model_inputs": 8, "model_outputs": 8},
    )
    compile_seconds = time.time() - start
    circuit = module.fhe_circuit
    start = time.time()
    circuit.keygen()
    keygen_seconds = time.time() - start

    rng = np.random.default_rng(args.image_seed)
    latencies, cosines = [], []
    for _ in range(args.runs):
        x = rng.uniform(-1, 1, size=(1, 3, 32, 32)).astype(np.float32)
        start = time.time()
        fhe = module.forward(x, fhe="execute")
        latencies.append(time.time() - start)
        clear = module.forward(x, fhe="simulate")
        a, b = fhe.ravel(), clear.ravel()
        cosines.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)))

    stats = circuit.statistics
    print(json.dumps({
        "framework": "concrete-ml",
        "compile_seconds": compile_seconds,
        "keygen_seconds": keygen_seconds,
        "latencies_seconds": latencies,
        "median_latency_seconds": statistics.median(latencies),
        "cosine_vs_simulation": statistics.mean(cosines),
        "pbs_count": stats.get("programmable_bootstrap_count"),
        "eval_key_bytes": circuit.size_of_bootstrap_keys + circuit.size_of_keyswitch_keys,
    }))


if __name__ == "__main__":
    main()
