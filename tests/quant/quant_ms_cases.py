#!/usr/bin/python3
"""Single-node models of onnxruntime's com.microsoft QLinear elementwise ops and onnxruntime's outputs.

    quant_ms_cases.py OUTDIR [--node /usr/bin/node]

For each case writes OUTDIR/<case>/model.onnx, its inputs (<input>.npy) and onnxruntime-node's output
(OUTDIR/<case>/ort/, scripts/ort/run.js layout), and OUTDIR/cases.json: [{name, inputs: [[name, file]],
output}]. tests/quant/test_quant_ms.cpp runs the same models in netlens and compares the integers.
Inputs are seeded random integers over the whole int8/uint8 range (every value for the table ops);
scales include ratios whose results fall on .5 ties (round half to even) and out-of-range sums
(saturation). Scales and zero points are initializers, as quantizers write them.
"""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_JS = os.path.join(HERE, "..", "..", "scripts", "ort", "run.js")
NP = {"u8": np.uint8, "i8": np.int8}
TP = {"u8": TensorProto.UINT8, "i8": TensorProto.INT8}


def q_random(rng, t, shape):
    info = np.iinfo(NP[t])
    return rng.integers(info.min, info.max + 1, size=shape, endpoint=False).astype(NP[t])


def make_case(out, name, op, t, inputs, params, attrs, node_args):
    """inputs: [(name, array)] graph inputs; params: [(name, value, dtype)] initializers (scalars);
    node_args: the node's input names in order ('' for omitted)."""
    inits = [numpy_helper.from_array(np.array(v, dtype=d), n) for n, v, d in params]
    g_in = [helper.make_tensor_value_info(n, TP[t], list(a.shape)) for n, a in inputs]
    node = helper.make_node(op, node_args, ["y"], name=f"{name}_node", domain="com.microsoft", **attrs)
    graph = helper.make_graph([node], name, g_in, [helper.make_tensor_value_info("y", TP[t], None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)])
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    onnx.save(model, os.path.join(d, "model.onnx"))
    files = []
    for n, a in inputs:
        np.save(os.path.join(d, n + ".npy"), a)
        files.append([n, n + ".npy"])
    return {"name": name, "inputs": files, "output": "y"}


def binary(out, rng, op, t, name, sa, sb, za, zb, sc, zc, shape_a, shape_b):
    d = NP[t]
    a, b = q_random(rng, t, shape_a), q_random(rng, t, shape_b)
    params = [("a_s", sa, np.float32), ("a_z", za, d), ("b_s", sb, np.float32), ("b_z", zb, d),
              ("c_s", sc, np.float32), ("c_z", zc, d)]
    return make_case(out, name, op, t, [("a", a), ("b", b)], params, {},
                     ["a", "a_s", "a_z", "b", "b_s", "b_z", "c_s", "c_z"])


def unary(out, rng, op, t, name, xs, xz, ys, yz, shape, attrs):
    d = NP[t]
    info = np.iinfo(d)
    x = q_random(rng, t, shape)
    x.reshape(-1)[:256] = np.arange(info.min, info.max + 1).astype(d)  # every value through the table
    params = [("x_s", xs, np.float32), ("x_z", xz, d), ("y_s", ys, np.float32), ("y_z", yz, d)]
    return make_case(out, name, op, t, [("x", x)], params, attrs, ["x", "x_s", "x_z", "y_s", "y_z"])


def cases(out):
    rng = np.random.default_rng(int(os.environ.get("QUANT_MS_SEED", "18")))  # another seed: a wider check by hand
    c = []
    for t, z in (("u8", (128, 120, 131)), ("i8", (0, -8, 3))):
        za, zb, zc = z
        for op in ("QLinearAdd", "QLinearMul"):
            k = op[7:].lower()
            sc = 0.05 if op == "QLinearAdd" else 0.6
            c.append(binary(out, rng, op, t, f"{k}_{t}_same", 0.02, 0.03, za, zb, sc, zc, [2, 3, 8, 9], [2, 3, 8, 9]))
            # B constant along the innermost run (per channel), A constant along it, B a row.
            c.append(binary(out, rng, op, t, f"{k}_{t}_channel", 0.021, 0.017, za, zb, sc, zc, [1, 4, 5, 6], [1, 4, 1, 1]))
            c.append(binary(out, rng, op, t, f"{k}_{t}_a_column", 0.013, 0.04, za, zb, sc, zc, [2, 3, 1], [2, 3, 7]))
            c.append(binary(out, rng, op, t, f"{k}_{t}_row", 0.02, 0.02, za, zb, sc, zc, [3, 33], [33]))
            c.append(binary(out, rng, op, t, f"{k}_{t}_scalar_b", 0.03, 0.05, za, zb, sc, zc, [37], [1]))
            # Exact .5 ties: scale ratios 1/2 (half-to-even decides), and saturation (small C scale).
            c.append(binary(out, rng, op, t, f"{k}_{t}_ties", 0.5, 0.5, za, zb, 1.0 if op == "QLinearAdd" else 0.5,
                            zc, [4, 40], [4, 40]))
            c.append(binary(out, rng, op, t, f"{k}_{t}_saturate", 0.1, 0.1, za, zb, 0.01, zc, [64], [64]))
        za, zb, zc = z
        for xs, ys, yz, tag in ((0.08, 1.0 / 256, 0 if t == "u8" else -128, "std"), (0.03, 0.004, zb, "zp")):
            c.append(unary(out, rng, "QLinearSigmoid", t, f"sigmoid_{t}_{tag}", xs, za, ys, yz, [2, 300], {}))
        c.append(unary(out, rng, "QLinearLeakyRelu", t, f"leakyrelu_{t}_default", 0.05, za, 0.04, zb, [2, 300], {}))
        c.append(unary(out, rng, "QLinearLeakyRelu", t, f"leakyrelu_{t}_alpha", 0.05, za, 0.05, zc, [3, 200],
                       {"alpha": 0.1}))
        for cl, shape in ((0, [2, 5, 7, 7]), (1, [2, 7, 7, 5]), (0, [1, 16, 3, 1]), (1, [3, 4, 2, 11])):
            d = NP[t]
            x = q_random(rng, t, shape)
            params = [("x_s", 0.07, np.float32), ("x_z", za, d), ("y_s", 0.02, np.float32), ("y_z", zc, d)]
            c.append(make_case(out, f"gap_{t}_cl{cl}_{'x'.join(map(str, shape))}", "QLinearGlobalAveragePool", t,
                               [("x", x)], params, {"channels_last": cl}, ["x", "x_s", "x_z", "y_s", "y_z"]))
        # QLinearConcat: inputs with their own parameters (requantized), one with Y's (copied), axis 1
        # and a negative axis.
        d = NP[t]
        for axis, shapes in ((1, ([2, 3, 4], [2, 5, 4], [2, 1, 4])), (-1, ([3, 2, 6], [3, 2, 2], [3, 2, 9]))):
            xs = [q_random(rng, t, s) for s in shapes]
            params = [("y_s", 0.05, np.float32), ("y_z", zc, d)]
            args = ["y_s", "y_z"]
            for k, (sc, zp) in enumerate(((0.03, za), (0.05, zc), (0.11, zb))):
                params += [(f"x{k}_s", sc, np.float32), (f"x{k}_z", zp, d)]
                args += [f"x{k}", f"x{k}_s", f"x{k}_z"]
            c.append(make_case(out, f"concat_{t}_axis{axis}", "QLinearConcat", t,
                               [(f"x{k}", x) for k, x in enumerate(xs)], params, {"axis": axis}, args))
        # QLinearAveragePool: 3x3 stride 2 with pads (with and without the padding counted), ceil_mode,
        # SAME_UPPER, channels_last.
        for tag, attrs, shape in (("pads", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), [1, 3, 9, 10]),
                                  ("pads_incl", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                                     count_include_pad=1), [1, 3, 9, 10]),
                                  ("ceil", dict(kernel_shape=[2, 3], strides=[2, 2], ceil_mode=1), [2, 2, 7, 8]),
                                  ("same", dict(kernel_shape=[3, 3], auto_pad="SAME_UPPER"), [1, 4, 5, 6]),
                                  ("cl", dict(kernel_shape=[2, 2], strides=[1, 2], channels_last=1), [2, 6, 7, 3])):
            x = q_random(rng, t, shape)
            params = [("x_s", 0.07, np.float32), ("x_z", za, d), ("y_s", 0.03, np.float32), ("y_z", zc, d)]
            c.append(make_case(out, f"avgpool_{t}_{tag}", "QLinearAveragePool", t, [("x", x)], params, attrs,
                               ["x", "x_s", "x_z", "y_s", "y_z"]))
    return c


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: quant_ms_cases.py OUTDIR [--node NODE]")
    out = sys.argv[1]
    node = sys.argv[sys.argv.index("--node") + 1] if "--node" in sys.argv else "/usr/bin/node"
    os.makedirs(out, exist_ok=True)
    all_cases = cases(out)
    for c in all_cases:
        d = os.path.join(out, c["name"])
        args = [node, RUN_JS, os.path.join(d, "model.onnx"), os.path.join(d, "ort"), "--threads", "1"]
        for n, f in c["inputs"]:
            args += ["--input", f"{n}={os.path.join(d, f)}"]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"quant_ms_cases: onnxruntime failed on {c['name']}: {r.stderr.strip()}")
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(all_cases, f, indent=1)
    print(f"quant_ms_cases: {len(all_cases)} cases in {out}")


if __name__ == "__main__":
    main()
