"""Checks the gradient oracle's own operators against PyTorch's native ones, independently of netlens:
every op whose ONNX semantics the oracle spells out by hand (asymmetric pads, ceil_mode, count_include_pad,
Resize coordinate modes, ConvTranspose pads and output_padding, opset < 13 Softmax, kink handling) is
run through torch_oracle.run on a one-node graph and compared, forward value and input gradient, with
the matching torch.nn.functional call (float64, tolerance 1e-10). Also: --kink-values follows the
other implementation only within the band, and counts it.

    /usr/bin/python3 torch_oracle_selftest.py      (exit 0: all pass; otherwise one line per failure)
"""
import os
import sys
import tempfile

import numpy as np
import onnx
from onnx import helper, TensorProto
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_oracle  # noqa: E402

failures = []


def model_of(op, inputs, attrs=None, n_out=1, opset=17, consts=None):
    """One node; `inputs` are numpy arrays (graph inputs) or None (omitted); consts: {index: array}
    initializers (shapes, scales...)."""
    names, ginputs, inits = [], [], []
    for i, a in enumerate(inputs):
        if a is None:
            names.append("")
            continue
        name = f"in{i}"
        names.append(name)
        if consts and i in consts:
            inits.append(onnx.numpy_helper.from_array(a, name))
        else:
            ginputs.append(helper.make_tensor_value_info(name, TensorProto.DOUBLE, list(a.shape)))
    outs = [f"out{k}" for k in range(n_out)]
    node = helper.make_node(op, names, outs, **(attrs or {}))
    g = helper.make_graph([node], "t", ginputs, [helper.make_tensor_value_info("out0", TensorProto.DOUBLE, None)],
                          initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def check(label, op, inputs, attrs, reference, opset=17, consts=None, kinks=None):
    """reference(*torch inputs requiring grad) -> torch output. Compares out0 and d(Σ seed·out0)/d(in0)."""
    consts = consts or {}
    m = model_of(op, inputs, attrs, opset=opset, consts=consts)
    feeds = {f"in{i}": a for i, a in enumerate(inputs) if a is not None and i not in consts}
    ref_in = [None if a is None else torch.tensor(a, dtype=torch.float64, requires_grad=(i not in consts))
              for i, a in enumerate(inputs)]
    ref = reference(*ref_in)
    seed = np.random.default_rng(1).standard_normal(tuple(ref.shape))
    try:
        vals, grads, *_ = torch_oracle.run(m, feeds, {"out0": seed}, torch.float64, kinks=kinks)
    except Exception as e:  # a failure to run is a failure of the check
        failures.append(f"{label}: {type(e).__name__}: {e}")
        return None
    (torch.tensor(seed) * ref).sum().backward()
    got = vals["out0"].detach().numpy()
    if got.shape != tuple(ref.shape):
        failures.append(f"{label}: shape {got.shape}, torch {tuple(ref.shape)}")
        return None
    err = np.abs(got - ref.detach().numpy()).max()
    if not err <= 1e-10:
        failures.append(f"{label}: forward differs from torch by {err}")
    gerr = np.abs(grads["in0"].numpy() - ref_in[0].grad.numpy()).max()
    if not gerr <= 1e-10:
        failures.append(f"{label}: input gradient differs from torch autograd by {gerr}")
    return vals, grads


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 11))
    w = rng.standard_normal((4, 3, 3, 3))
    wg = rng.standard_normal((6, 1, 3, 3))
    x6 = rng.standard_normal((2, 6, 9, 11))

    check("Conv pads/strides/dilations", "Conv", [x, w], {"pads": [1, 2, 1, 2], "strides": [2, 1], "dilations": [1, 2]},
          lambda a, b: F.conv2d(a, b, padding=(1, 2), stride=(2, 1), dilation=(1, 2)), consts={1: w})
    check("Conv asymmetric pads", "Conv", [x, w], {"pads": [0, 1, 2, 0]},
          lambda a, b: F.conv2d(F.pad(a, (1, 0, 0, 2)), b), consts={1: w})
    check("Conv SAME_UPPER stride 2", "Conv", [x, w], {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
          lambda a, b: F.conv2d(F.pad(a, (1, 1, 1, 1)), b, stride=2), consts={1: w})
    check("Conv depthwise", "Conv", [x6, wg], {"group": 6, "pads": [1, 1, 1, 1]},
          lambda a, b: F.conv2d(a, b, padding=1, groups=6), consts={1: wg})
    wt = rng.standard_normal((3, 2, 3, 3))
    check("ConvTranspose pads/output_padding", "ConvTranspose", [x, wt],
          {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 0]},
          lambda a, b: F.conv_transpose2d(a, b, stride=2, padding=1, output_padding=(1, 0)), consts={1: wt})
    wt2 = rng.standard_normal((3, 5, 2, 2))
    check("ConvTranspose k2 s2 (PP-OCR det)", "ConvTranspose", [x, wt2], {"strides": [2, 2]},
          lambda a, b: F.conv_transpose2d(a, b, stride=2), consts={1: wt2})

    check("MaxPool pads", "MaxPool", [x], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
          lambda a: F.max_pool2d(a, 3, 2, 1))
    check("MaxPool ceil_mode", "MaxPool", [x], {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1},
          lambda a: F.max_pool2d(a, 2, 2, ceil_mode=True))
    check("AveragePool count_include_pad=0", "AveragePool", [x], {"kernel_shape": [3, 3], "strides": [2, 2],
          "pads": [1, 1, 1, 1]}, lambda a: F.avg_pool2d(a, 3, 2, 1, count_include_pad=False))
    check("AveragePool count_include_pad=1", "AveragePool", [x], {"kernel_shape": [3, 3], "strides": [2, 2],
          "pads": [1, 1, 1, 1], "count_include_pad": 1}, lambda a: F.avg_pool2d(a, 3, 2, 1, count_include_pad=True))
    check("AveragePool ceil_mode", "AveragePool", [x], {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1},
          lambda a: F.avg_pool2d(a, 2, 2, ceil_mode=True))
    check("AveragePool 3x2 (PP-OCR rec)", "AveragePool", [x], {"kernel_shape": [3, 2], "strides": [3, 2]},
          lambda a: F.avg_pool2d(a, (3, 2), (3, 2)))

    scales = np.array([1, 1, 2, 2], dtype=np.float32)
    empty = np.zeros((0,), dtype=np.float32)
    check("Resize nearest asymmetric floor", "Resize", [x, empty, scales],
          {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
          lambda a, r, s: F.interpolate(a, scale_factor=2, mode="nearest"), consts={1: empty, 2: scales})
    check("Resize linear half_pixel", "Resize", [x, empty, scales], {"mode": "linear"},
          lambda a, r, s: F.interpolate(a, scale_factor=2, mode="bilinear", align_corners=False),
          consts={1: empty, 2: scales})
    sizes = np.array([2, 3, 5, 7], dtype=np.int64)
    check("Resize linear align_corners sizes", "Resize", [x, None, None, sizes],
          {"mode": "linear", "coordinate_transformation_mode": "align_corners"},
          lambda a, r, s, z: F.interpolate(a, size=(5, 7), mode="bilinear", align_corners=True), consts={3: sizes})

    check("Softmax opset 9 axis 1 (coerced to 2-D)", "Softmax", [x], {"axis": 1},
          lambda a: torch.softmax(a.reshape(2, -1), 1).reshape(a.shape), opset=9)
    check("Softmax opset 13 axis 1", "Softmax", [x], {"axis": 1}, lambda a: torch.softmax(a, 1), opset=13)
    g = rng.standard_normal((11,))
    b = rng.standard_normal((11,))
    check("LayerNormalization", "LayerNormalization", [x, g, b], {"axis": -1, "epsilon": 1e-5},
          lambda a, s, c: F.layer_norm(a, (11,), s, c, 1e-5), consts={1: g, 2: b})
    m, v = rng.standard_normal(3), rng.uniform(0.5, 1.5, 3)
    check("BatchNormalization", "BatchNormalization", [x, g[:3], b[:3], m, v], {"epsilon": 1e-5},
          lambda a, s, c, mm, vv: F.batch_norm(a, mm, vv, s, c, False, 0.0, 1e-5),
          consts={1: g[:3], 2: b[:3], 3: m, 4: v})
    check("Relu", "Relu", [x], {}, F.relu)
    a6 = float(np.float32(1 / 6))  # ONNX float attributes are float32
    check("HardSigmoid", "HardSigmoid", [3 * x], {"alpha": 1 / 6, "beta": 0.5}, lambda a: torch.clamp(a6 * a + 0.5, 0, 1))
    lo, hi = np.array(0.0), np.array(6.0)
    check("Clip 0..6", "Clip", [4 * x, lo, hi], {}, lambda a, p, q: F.relu6(a), consts={1: lo, 2: hi})
    check("Clip opset 6 attributes", "Clip", [4 * x], {"min": -1.0, "max": 2.0}, lambda a: torch.clamp(a, -1, 2), opset=6)
    check("Gemm transB alpha beta", "Gemm", [x[0, 0], w.reshape(4, -1)[:, :11], g[:4]],
          {"transB": 1, "alpha": 0.5, "beta": 2.0}, lambda a, bb, c: 0.5 * a @ bb.t() + 2.0 * c,
          consts={1: w.reshape(4, -1)[:, :11], 2: g[:4]})
    check("Slice negative step", "Slice", [x, np.array([-1]), np.array([-100]), np.array([3]), np.array([-2])], {},
          lambda a, *r: torch.flip(a, [3])[..., ::2],
          consts={1: np.array([-1]), 2: np.array([-100]), 3: np.array([3]), 4: np.array([-2])})
    check("Gelu via Erf path", "Gelu", [x], {}, lambda a: F.gelu(a), opset=20)

    # Kink alignment: a ReLU input at 1e-9 (inside the band) where the other side says -1e-9 takes the
    # other side; one at 0.5 never does.
    xr = np.array([[1e-9, 0.5, -0.3, 2.0]])
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "k.npy"), np.array([[-1e-9, -0.5, -0.3, 2.0]], dtype=np.float32))
        with open(os.path.join(d, "index.tsv"), "w") as f:
            f.write("in0\tk.npy\n")
        kinks = torch_oracle.Kinks(d)
        m = model_of("Relu", [xr])
        vals, grads, *_ = torch_oracle.run(m, {"in0": xr}, {"out0": np.ones_like(xr)}, torch.float64, kinks=kinks)
        got = grads["in0"].numpy().reshape(-1).tolist()
        if got != [0.0, 1.0, 0.0, 1.0] or kinks.overrides != {"in0": 1}:
            failures.append(f"kink alignment: gradient {got}, overrides {kinks.overrides} "
                            "(expected [0, 1, 0, 1] and one override)")

    for f in failures:
        print("FAIL", f)
    print(f"torch_oracle_selftest: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
