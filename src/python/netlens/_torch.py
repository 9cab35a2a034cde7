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
    """('layer1.0.conv1', call) from a torch 1.13 node name '/layer1/layer1.0/conv1/Conv' (None for
    nodes outside any module scope). Scopes list each level's name as its parent saw it, with
    Sequential children spelt 'layer1.0' (the parent's name again); 'relu_1' is the second call of
    module 'relu'. The last component is the op and is dropped."""
    if not node_name.startswith("/"):
        return None
    parts = node_name.strip("/").split("/")[:-1]
    if not parts:
        return None
    return parts


def module_tensors(nodes, module) -> dict:
    """{module qualified name: [output tensor of call 0, call 1, ...]}: for every scope, the first
    output of its last node in graph order (the module's output for single-output modules). A
    scope 'relu_1' is call 1 of module 'relu' when 'relu' is a module and 'relu_1' is not."""
    known = {name for name, _ in module.named_modules() if name}
    last = {}  # (qualified name, call) -> output tensor
    for n in nodes:
        parts = scope_of(n["name"])
        if not parts or not n["outputs"]:
            continue
        q = []  # qualified names of the scopes so far
        for depth, comp in enumerate(parts):
            call = 0
            full = _join(q, parts, depth, comp)
            m = _CALL.match(comp)
            if full not in known and m:
                alt = _join(q, parts, depth, m.group(1))
                if alt in known:
                    full, call = alt, int(m.group(2))
            q.append(full)
            last[(full, call)] = n["outputs"][0]
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
