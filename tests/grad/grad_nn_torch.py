"""PyTorch autograd reference for tests/grad/test_grad_nn_torch.cpp (one nn node at a time).

    /usr/bin/python3 grad_nn_torch.py DIR

DIR/spec.json: {"op": "Conv"|"ConvTranspose"|"MaxPool"|"BatchNormalization", "attrs": {...ONNX...},
"inputs": [shape, ...], "output": shape}; DIR/in<i>.bin and DIR/seed.bin hold raw little-endian
float32 values. Computes Y with torch.nn.functional (float64), S = sum(seed * Y), and writes
DIR/out.bin (Y) and DIR/grad<i>.bin (dS/d input i) as float32. BatchNormalization's mean/var
gradients come from autograd through the explicit inference formula (F.batch_norm treats the running
statistics as buffers).
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def load(d, name, shape):
    return torch.from_numpy(np.fromfile(os.path.join(d, name), dtype="<f4").reshape(shape).astype(np.float64))


def onnx_pads_to_torch(pads):
    # ONNX [b0, b1, ..., e0, e1, ...] -> F.pad's (b_last, e_last, ..., b0, e0)
    r = len(pads) // 2
    out = []
    for i in reversed(range(r)):
        out += [pads[i], pads[i + r]]
    return out


def main():
    d = sys.argv[1]
    spec = json.load(open(os.path.join(d, "spec.json")))
    op, a = spec["op"], spec["attrs"]
    xs = [load(d, f"in{i}.bin", s).requires_grad_(True) for i, s in enumerate(spec["inputs"])]
    seed = load(d, "seed.bin", spec["output"])
    r = len(spec["inputs"][0]) - 2
    if op == "Conv":
        conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[r]
        x = F.pad(xs[0], onnx_pads_to_torch(a.get("pads", [0] * 2 * r)))
        y = conv(x, xs[1], xs[2] if len(xs) > 2 else None, stride=a.get("strides", [1] * r),
                 dilation=a.get("dilations", [1] * r), groups=a.get("group", 1))
    elif op == "ConvTranspose":
        conv_t = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[r]
        pads = a.get("pads", [0] * 2 * r)
        assert pads[:r] == pads[r:], "symmetric pads only"
        y = conv_t(xs[0], xs[1], xs[2] if len(xs) > 2 else None, stride=a.get("strides", [1] * r),
                   padding=pads[:r], output_padding=a.get("output_padding", [0] * r),
                   groups=a.get("group", 1), dilation=a.get("dilations", [1] * r))
    elif op == "MaxPool":
        pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[r]
        pads = a.get("pads", [0] * 2 * r)
        assert pads[:r] == pads[r:], "symmetric pads only"
        y = pool(xs[0], a["kernel_shape"], stride=a.get("strides", [1] * r), padding=pads[:r],
                 dilation=a.get("dilations", [1] * r), ceil_mode=bool(a.get("ceil_mode", 0)))
    elif op == "BatchNormalization":
        x, scale, bias, mean, var = xs
        eps = a.get("epsilon", 1e-5)
        y = F.batch_norm(x, mean.detach(), var.detach(), scale, bias, training=False, eps=eps)
        # The statistics' gradients: the same function written out, differentiated w.r.t. mean/var only.
        shape = [1, -1] + [1] * r
        y_stats = (x.detach() - mean.view(shape)) / torch.sqrt(var.view(shape) + eps) * scale.detach().view(shape) \
            + bias.detach().view(shape)
        (seed * y_stats).sum().backward()
    else:
        raise SystemExit(f"unknown op {op}")
    (seed * y).sum().backward()
    y.detach().numpy().astype("<f4").tofile(os.path.join(d, "out.bin"))
    for i, t in enumerate(xs):
        g = t.grad if t.grad is not None else torch.zeros_like(t)
        g.numpy().astype("<f4").tofile(os.path.join(d, f"grad{i}.bin"))


if __name__ == "__main__":
    main()
