"""Checkpoints for the timeline benchmark: torchvision's ResNet-18 (random weights, seed 0) exported
once, then N ONNX files whose float initializers are perturbed a little more each step (a stand-in for
training: W_k = W_0 + 0.01·k·σ(W_0)·noise), plus the probe input.

    python3 make_resnet_checkpoints.py OUT_DIR [N=50]

OUT_DIR/ckpt_<k>.onnx (k = 0..N-1, ~45 MB each), OUT_DIR/probe.npy (1x3x224x224, seed 1).
"""
import os
import sys

import numpy as np
import onnx
import torch
import torchvision
from onnx import numpy_helper


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    base = os.path.join(out, "base.onnx")
    torch.onnx.export(model, torch.zeros(1, 3, 224, 224), base, input_names=["x"], output_names=["logits"], opset_version=13)
    m = onnx.load(base)
    rng = np.random.RandomState(0)
    w0 = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    noise = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in w0.items() if v.dtype == np.float32}
    for k in range(n):
        for i, t in enumerate(m.graph.initializer):
            if t.name in noise:
                v = w0[t.name]
                p = v + np.float32(0.01 * k) * np.float32(v.std() + 1e-8) * noise[t.name]
                m.graph.initializer[i].CopyFrom(numpy_helper.from_array(p.astype(np.float32), t.name))
        onnx.save(m, os.path.join(out, "ckpt_%d.onnx" % k))
    os.remove(base)
    np.save(os.path.join(out, "probe.npy"), np.random.RandomState(1).rand(1, 3, 224, 224).astype(np.float32))


if __name__ == "__main__":
    main()
