#!/usr/bin/python3
"""`inspect --metric` (the per-layer figures `render --metric` colours by) against independent
computations on MobileNetV2 and a real photo.

  metric_values.py NETLENS MODELS_DIR WORKDIR

- params: elements of each node's float initializers / Constant values of rank >= 1, read from the
  ONNX file with the onnx package (exact);
- flops: 2 x multiply-adds from the ONNX weights' shapes and the dumped output shapes (Conv:
  2·numel(y)·Cin/g·kh·kw, Gemm: 2·numel(y)·K; 0 for other ops) (exact);
- memory: the dumped tensors' bytes (exact);
- grad-norm: NumPy's L2 norm of the gradients `infer --dump --gradients` writes (1e-6 relative);
- latency: a figure for every layer, >= 0, > 0 for every Conv;
- FILE.json: values by node or tensor name, unknown keys reported, bad files one error line.
"""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper

netlens, models, work = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
model = os.path.join(models, "mobilenet_v2.onnx")
photo = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"
failures = []


def run(*args):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(map(str, args))}\n{p.stderr}")
    return p.stdout


def metric(m, *extra):
    d = json.loads(run(netlens, "inspect", model, "--input", photo, "--brief", "--metric", m, *extra))["metric"]
    return {v["tensor"]: v["value"] for v in d["values"]}, d


g = onnx.load(model).graph
consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
for n in g.node:
    if n.op_type == "Constant":
        consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
dump = os.path.join(work, "dump")
run(netlens, "infer", model, "--input", photo, "--dump", dump, "--all", "--gradients")
idx = json.load(open(os.path.join(dump, "index.json")))
gidx = json.load(open(os.path.join(dump, "gradients", "index.json")))
arr = lambda t: np.load(os.path.join(dump, idx[t]["file"]))
by_out = {o: n for n in g.node for o in n.output}

params, _ = metric("params")
flops, _ = metric("flops")
memory, _ = metric("memory")
grad, _ = metric("grad-norm")
lat, _ = metric("latency")
checked = 0
for t in params:
    n = by_out.get(t)
    if n is None:  # the graph input: no cost
        want_p = want_f = 0.0
    else:
        want_p = float(sum(consts[i].size for i in n.input if i in consts and consts[i].dtype.kind == "f" and consts[i].ndim >= 1))
        y = arr(t)
        if n.op_type == "Conv":
            want_f = 2.0 * y.size * np.prod(consts[n.input[1]].shape[1:])
        elif n.op_type == "Gemm":
            want_f = 2.0 * y.size * arr(n.input[0]).shape[-1]
        else:
            want_f = 0.0
    a = arr(t)
    want_m = float(a.size * a.dtype.itemsize)
    gr = np.load(os.path.join(dump, "gradients", gidx[t]["file"])).astype(np.float64)
    want_g = float(np.linalg.norm(gr.ravel()))
    for name, got, want, tol in (("params", params[t], want_p, 0), ("flops", flops[t], want_f, 0),
                                 ("memory", memory[t], want_m, 0),
                                 ("grad-norm", grad[t], want_g, 1e-6 * want_g + 1e-30)):
        if abs(got - want) > tol:
            failures.append(f"{name} of {t}: {got} but the reference gives {want}")
    if t not in lat or lat[t] < 0 or (n is not None and n.op_type == "Conv" and not lat[t] > 0):
        failures.append(f"latency of {t}: {lat.get(t)}")
    checked += 1
if checked < 100 or set(params) != set(flops) or set(params) != set(memory):
    failures.append(f"only {checked} layers, or the metrics cover different tensors")
print(f"{checked} layers: params, flops, memory exact; grad-norm within 1e-6; latency "
      f"{sum(lat.values()):.1f} ms in nodes; total params {sum(params.values()):.0f}, flops {sum(flops.values()):.3g}")

# FILE.json: by node name and by tensor name; an unknown key is reported, not an error.
conv = next(n for n in g.node if n.op_type == "Conv")
f = os.path.join(work, "m.json")
json.dump({conv.name: 7.5, g.node[-1].output[0]: -2, "nope": 1}, open(f, "w"))
vals, d = metric(f)
if vals != {conv.output[0]: 7.5, g.node[-1].output[0]: -2} or d["unknown"] != ["nope"]:
    failures.append(f"FILE.json values {vals} unknown {d['unknown']}")
for bad, why in ((["1, 2"], "a list"), ({"x": "a"}, "a string value"), ({"nope": 1}, "no key matches")):
    json.dump(bad, open(f, "w"))
    p = subprocess.run([netlens, "inspect", model, "--input", photo, "--metric", f], capture_output=True, text=True)
    if p.returncode == 0 or len(p.stderr.strip().splitlines()) != 1 or p.stdout:
        failures.append(f"{why}: rc {p.returncode}, stderr {p.stderr!r}")
p = subprocess.run([netlens, "inspect", model, "--input", photo, "--metric", "speed"], capture_output=True, text=True)
if p.returncode != 2:
    failures.append(f"--metric speed: rc {p.returncode}")
if failures:
    print("\n".join("FAIL: " + x for x in failures[:30]))
    sys.exit(1)
print("ok")
