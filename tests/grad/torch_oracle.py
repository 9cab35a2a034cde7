"""Independent gradient oracle: runs an ONNX graph node by node with PyTorch ops (float64 by default)
and lets PyTorch's autograd differentiate it, so the reference shares no code with netlens's
backward kernels (or its forward kernels: every op below is written from the ONNX operator spec).

    /usr/bin/python3 torch_oracle.py MODEL.onnx --input NAME=FILE.npy [...] --seed TENSOR=FILE.npy [...]
                                     --out DIR [--dtype float64|float32] [--threads N] [--activations]
                                     [--weights] [--check-dump DIR [--check-tol 1e-4]]

S = Σ_seeds Σ seed ⊙ tensor (several --seed allowed, on any tensor: an output or an intermediate).
Writes:
  DIR/gradients/<stem>.npy, DIR/gradients/index.json: dS/dT for every float tensor that depends on a
      graph input (inputs included; zeros where S does not depend on it), float32 files. With
      --weights also for float initializers (names as in the graph).
  DIR/outputs/<stem>.npy, DIR/outputs/index.json: the forward values of the graph outputs (float32);
      with --activations every tensor the graph computes, in the same folder.
index.json has netlens' dump schema: {name: {"file", "shape", "dtype", "producer", "op_type"}};
<stem> is the tensor name with every character outside [A-Za-z0-9._-] replaced by '_' and "-2",
"-3"... appended to later names that collide (case-insensitively), as netlens' dumps do.

--kink-values DIR aligns decisions at kinks with another implementation's forward values: DIR holds
index.tsv (lines "tensor<TAB>file.npy") with the values that implementation computed for the input
X of Relu, LeakyRelu, Clip, HardSigmoid and MaxPool nodes. Where the oracle's own X lies within 1e-5·max|X| of a
kink (ReLU's 0, Clip's bounds, HardSigmoid's 0 and 1, a MaxPool window's runner-up) and the other
implementation's X falls on the other side (picks the other maximum), the oracle takes that side: at such points the derivative is decided by float32
rounding of the forward, not by the backward under test, and one flipped ReLU in ResNet-50 moves the
gradient of every tensor before it by ~2e-3 relative L2. Every override is listed in
OUT/kinks.json ({tensor: count}) and counted in the summary line; outside the band the oracle
never looks at the other values.

--check-dump DIR compares the oracle's forward with a netlens `infer --dump DIR [--all]` folder
(every tensor both have, relative L2 ≤ --check-tol) and exits 1 naming the worst ones.

Integer and shape subgraphs (Shape, Gather on shapes, Concat of shapes...) run in torch too, as
int64/bool tensors without gradients. An op this interpreter does not know is an error naming the
node: the oracle never guesses.
"""
import argparse
import json
import os
import re
import sys

import numpy as np
import onnx
from onnx import numpy_helper
import torch

from torch_oracle_ops import OPS, Ctx, Kinks, OracleError, from_numpy, node_label


# ---------------------------------------------------------------------------------------------
# The interpreter (the op implementations are in torch_oracle_ops.py).

def file_stems(names):
    """netlens' unique_file_stems: sanitised, later case-insensitive collisions get -2, -3, ..."""
    stems, taken = [], set()
    for n in names:
        s = re.sub(r"[^A-Za-z0-9._-]", "_", n) or "_"
        stem, k = s, 1
        while stem.lower() in taken:
            k += 1
            stem = f"{s}-{k}"
        taken.add(stem.lower())
        stems.append(stem)
    return stems


def write_tensors(folder, named, producers):
    """named: list of (name, np.ndarray). Writes <stem>.npy files and index.json."""
    os.makedirs(folder, exist_ok=True)
    stems = file_stems([n for n, _ in named])
    index = {}
    for (name, arr), stem in zip(named, stems):
        np.save(os.path.join(folder, stem + ".npy"), np.ascontiguousarray(arr))
        node = producers.get(name)
        index[name] = {"file": stem + ".npy", "shape": list(arr.shape), "dtype": str(arr.dtype),
                       "producer": node.name if node is not None else None,
                       "op_type": node.op_type if node is not None else None}
    with open(os.path.join(folder, "index.json"), "w") as f:
        json.dump(index, f, indent=1)


def to_numpy_out(t):
    t = t.detach()
    return t.to(torch.float32).numpy() if t.is_floating_point() else t.numpy()


def run(model_path, inputs, seeds, fdtype, weights=False, kinks=None):
    """Returns (values, grads, producers, order): every tensor's value, dS/dT for every float tensor
    depending on an input (or every float initializer when weights), producing nodes, graph order."""
    model = onnx.load(model_path) if isinstance(model_path, str) else model_path  # or a ModelProto
    g = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise OracleError("the model imports no default-domain opset")
    vals = {}
    init_names = set()
    for t in g.initializer:
        a = from_numpy(numpy_helper.to_array(t), fdtype)
        if weights and a.is_floating_point():
            a.requires_grad_(True)
        vals[t.name] = a
        init_names.add(t.name)
    order = []
    for vi in g.input:
        if vi.name in init_names:
            continue
        if vi.name not in inputs:
            raise OracleError(f"graph input '{vi.name}' has no --input")
        a = from_numpy(inputs[vi.name], fdtype)
        if a.is_floating_point():
            a.requires_grad_(True)
        vals[vi.name] = a
        order.append(vi.name)
    for name in inputs:
        if name not in vals:
            raise OracleError(f"--input {name}: the graph has no such input")
    producers = {}
    for node in g.node:
        if node.domain not in ("", "ai.onnx"):
            raise OracleError(f"{node_label(node)}: domain '{node.domain}' is not supported")
        fn = OPS.get(node.op_type)
        if fn is None:
            raise OracleError(f"{node_label(node)}: op not implemented in the oracle")
        args = []
        for name in node.input:
            if name == "":
                args.append(None)
            elif name not in vals:
                raise OracleError(f"{node_label(node)}: input '{name}' is not computed before it")
            else:
                args.append(vals[name])
        ctx = Ctx(node, opset, fdtype, kinks)
        try:
            outs = fn(ctx, *args)
        except OracleError:
            raise
        except Exception as e:  # a torch error on bad shapes: name the node
            raise OracleError(f"{node_label(node)}: {type(e).__name__}: {e}") from e
        for name, t in zip(node.output, outs):
            if name == "" or t is None:
                continue
            if any(t is a for a in args if a is not None):
                t = t.clone()  # a distinct tensor per name, so dS/dT is per name
            if t.requires_grad:
                t.retain_grad()
            vals[name] = t
            producers[name] = node
            order.append(name)
    S = torch.zeros((), dtype=fdtype)
    for name, seed in seeds.items():
        if name not in vals:
            raise OracleError(f"--seed {name}: no such tensor")
        t = vals[name]
        if tuple(seed.shape) != tuple(t.shape):
            raise OracleError(f"--seed {name}: shape {list(seed.shape)}, the tensor's is {list(t.shape)}")
        if not t.is_floating_point():
            raise OracleError(f"--seed {name}: not a float tensor")
        S = S + (from_numpy(seed, fdtype) * t).sum()
    grads = {}
    if S.requires_grad:
        S.backward()
    names = order + (sorted(n for n in init_names if vals[n].requires_grad) if weights else [])
    for name in names:
        t = vals[name]
        if not t.requires_grad:
            continue  # constant (initializer-only or integer) tensors have no gradient
        grads[name] = t.grad if t.grad is not None else torch.zeros_like(t)
    return vals, grads, producers, order, [o.name for o in g.output]


def relative_l2(a, b):
    a = a.astype(np.float64).reshape(-1)
    b = b.astype(np.float64).reshape(-1)
    den = np.linalg.norm(b)
    num = np.linalg.norm(a - b)
    return num / den if den > 0 else num


def check_dump(folder, vals, tol):
    with open(os.path.join(folder, "index.json")) as f:
        index = json.load(f)
    worst, bad, n = [], 0, 0
    for name, e in index.items():
        if name not in vals or not vals[name].is_floating_point():
            continue
        ref = to_numpy_out(vals[name])
        got = np.load(os.path.join(folder, e["file"]))
        if got.shape != ref.shape:
            print(f"check-dump: {name}: netlens shape {list(got.shape)}, oracle {list(ref.shape)}")
            bad += 1
            continue
        err = relative_l2(got, ref)
        n += 1
        worst.append((err, name))
        if not err <= tol:
            bad += 1
    worst.sort(reverse=True)
    for err, name in worst[:5]:
        print(f"check-dump: {name}: relative L2 {err:.3g}")
    print(f"check-dump: {n} tensors compared, {bad} over {tol}")
    return bad == 0 and n > 0


def parse_pairs(items, what):
    out = {}
    for it in items or []:
        if "=" not in it:
            sys.exit(f"torch_oracle: --{what} expects NAME=FILE.npy, got '{it}'")
        k, v = it.rsplit("=", 1)
        out[k] = np.load(v)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--input", action="append", default=[])
    ap.add_argument("--seed", action="append", default=[])
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--activations", action="store_true", help="dump every tensor's forward value")
    ap.add_argument("--weights", action="store_true", help="also the gradients of float initializers")
    ap.add_argument("--kink-values", default=None)
    ap.add_argument("--check-dump", default=None)
    ap.add_argument("--check-tol", type=float, default=1e-4)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    fdtype = torch.float64 if a.dtype == "float64" else torch.float32
    try:
        kinks = Kinks(a.kink_values) if a.kink_values else None
        vals, grads, producers, order, outputs = run(a.model, parse_pairs(a.input, "input"),
                                                     parse_pairs(a.seed, "seed"), fdtype, a.weights, kinks)
    except (OracleError, OSError) as e:
        sys.exit(f"torch_oracle: {a.model}: {e}")
    if kinks is not None:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "kinks.json"), "w") as f:
            json.dump(kinks.overrides, f, indent=1)
        print(f"torch_oracle: {sum(kinks.overrides.values())} kink decision(s) taken from --kink-values "
              f"({len(kinks.overrides)} tensor(s))")
    write_tensors(os.path.join(a.out, "gradients"),
                  [(n, grads[n].to(torch.float32).numpy()) for n in grads], producers)
    dumped = order if a.activations else outputs
    write_tensors(os.path.join(a.out, "outputs"), [(n, to_numpy_out(vals[n])) for n in dumped], producers)
    print(f"torch_oracle: {len(grads)} gradients, {len(dumped)} forward tensors written to {a.out}")
    if a.check_dump and not check_dump(a.check_dump, vals, a.check_tol):
        sys.exit(1)


if __name__ == "__main__":
    main()
