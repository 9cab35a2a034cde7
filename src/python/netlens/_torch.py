"""PyTorch → netlens: torch.onnx.export into memory, and PyTorch's module names back from the nodes."""
from __future__ import annotations

import io
import re
import warnings


def export_bytes(module, example_input, input_names=None, output_names=None, opset=13):
    """The module exported to ONNX bytes (io.BytesIO, no file) and its input names.

    Exported in eval mode with training=PRESERVE so BatchNorm stays a node of its own: the eval
    peephole pass would otherwise fold it into the preceding Conv, and the Conv's output would no
    longer be what the PyTorch module computes. The module's mode is restored afterwards."""
    import torch
    xs = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    if input_names is None:
        input_names = ["input"] if len(xs) == 1 else [f"input_{i}" for i in range(len(xs))]
    was_training = module.training
    module.eval()
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the PRESERVE/constant-folding advice is for training-mode modules
            torch.onnx.export(module, xs if len(xs) > 1 else xs[0], buf, input_names=list(input_names),
                              output_names=output_names, opset_version=opset,
                              training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True)
    finally:
        module.train(was_training)
    return buf.getvalue(), list(input_names)


_CALL = re.compile(r"^(.*)_(\d+)$")


def scope_of(node_name: str):
    """The module scopes of a torch 1.13 node name: '/layer1/layer1.0/conv1/Conv' → ['layer1',
    'layer1.0', 'conv1'] (the last component, the op, dropped); None outside any module. Each level
    is the name its parent registered it under, Sequential children spelt with the parent's name
    again ('layer1.0'); a second call of a module gets a suffix ('relu_1')."""
    if not node_name.startswith("/"):
        return None
    parts = node_name.strip("/").split("/")[:-1]
    return parts or None


def module_tensors(nodes, module) -> dict:
    """{module qualified name: [output tensor of call 0, call 1, ...]}: for every call of a
    module, the first output of the last node of that call in graph order (the module's output for
    single-output modules), calls in the order they ran (as forward hooks see them).

    A call is a run of consecutive nodes in one scope path: a scope left and entered again is a
    new call (torch 1.13 gives every call of a module called several times the same parent scope,
    only its children get suffixes). A scope 'relu_1' belongs to module 'relu' when that is a
    module and 'relu_1' is not. Limitation: two calls of one module with no node between them
    (block(block(x))) read as one call. Constant nodes are hoisted by the exporter and ignored
    for this."""
    known = {name for name, _ in module.named_modules() if name}
    calls_seen = {}   # module → calls so far
    current = {}      # scope path as spelt → (module, call) of its current run
    last = {}         # (module, call) → output tensor
    prev_paths = set()
    for n in nodes:
        if n["op"] == "Constant":
            continue
        parts = scope_of(n["name"]) or []
        paths = set()
        q = []  # qualified names of the scopes so far
        for depth, comp in enumerate(parts):
            full = _join(q, parts, depth, comp)
            m = _CALL.match(comp)
            if full not in known and m and _join(q, parts, depth, m.group(1)) in known:
                full = _join(q, parts, depth, m.group(1))
            q.append(full)
            path = "/".join(parts[:depth + 1])
            paths.add(path)
            if path not in prev_paths:  # entered (again): a new call
                current[path] = (full, calls_seen.get(full, 0))
                calls_seen[full] = current[path][1] + 1
            if n["outputs"]:
                last[current[path]] = n["outputs"][0]
        prev_paths = paths
    out = {}
    for (name, call), t in sorted(last.items(), key=lambda kv: kv[0][1]):
        calls = out.setdefault(name, [])
        calls.extend([None] * (call + 1 - len(calls)))
        calls[call] = t
    return out


def _join(q, parts, depth, comp):
    """The qualified name of scope component `comp` under the qualified names `q` so far."""
    if depth > 0 and comp.startswith(parts[depth - 1] + "."):
        # 'layer1.0' under 'layer1': the component repeats its parent's own name.
        return q[-1] + comp[len(parts[depth - 1]):]
    return f"{q[-1]}.{comp}" if q else comp
