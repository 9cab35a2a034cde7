#!/usr/bin/python3
"""Quantizes a float ONNX image classifier (MobileNetV2 from .cache/models) three ways, with only
onnx + numpy (onnxruntime's Python quantizer is not packaged by Debian):

  <name>.qdq.onnx      static QDQ: QuantizeLinear/DequantizeLinear pairs on every Conv/Gemm input and
                       output (uint8 activations, per-tensor, calibrated min/max on real photos),
                       int8 weights per output channel (DequantizeLinear axis 0), int32 biases
                       (DequantizeLinear of an int32 tensor, per-axis scale x_scale*w_scale).
  <name>.qlinear.onnx  static QOperator: QLinearConv / QLinearMatMul on uint8 activations (same
                       calibration), int8 per-channel weights, int32 biases; DequantizeLinear /
                       QuantizeLinear only around the float ops between them (Clip, Add, pooling).
  <name>.qlinear_ms.onnx  (MobileNetV2) as .qlinear, and its residual Adds and GlobalAveragePool become
                       onnxruntime's com.microsoft QLinearAdd / QLinearGlobalAveragePool on the uint8
                       tensors (what onnxruntime's static quantizer emits for CNNs in QOperator form).
  <name>.dynamic.onnx  dynamic: DynamicQuantizeLinear on each Conv/Gemm input, ConvInteger /
                       MatMulInteger with uint8 weights (zero point 128, symmetric per-channel
                       scales folded into the float rescale), Cast, Mul, Add: what onnxruntime's
                       quantize_dynamic emits.

Calibration runs the float model in onnxruntime-node (scripts/ort/run.js, .cache/ort) on the
calibration photos and takes each tensor's min/max over them (range widened to include 0, as
onnxruntime's MinMax calibrator does).

  quantize-models.py --models .cache/models --out DIR [--model mobilenet_v2] [--references]

--references also writes DIR/inputs/<photo>.npy for the test photos and, for each quantized model,
onnxruntime's value of every tensor on the first test photo (DIR/ort/<model>/, run.js layout), for
tests/quant. Exit status 1 with one line on stderr for any failure.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, version_converter
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PHOTOS = "/usr/lib/python3/dist-packages/skimage/data"
SAMPLES = os.path.join(ROOT, "assets", "samples")
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def die(msg):
    sys.stderr.write(f"quantize-models: {msg}\n")
    sys.exit(1)


def preprocess_imagenet(path):
    """torchvision's ImageNet evaluation transform: shorter side 256, centre crop 224, normalise."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    s = 256 / min(w, h)
    img = img.resize((max(224, round(w * s)), max(224, round(h * s))), Image.BILINEAR)
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    img = img.crop((left, top, left + 224, top + 224))
    x = (np.asarray(img, np.float32) / 255.0 - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def preprocess_ppocr(path, width=None):
    """PaddleOCR's line preprocessing: height 48 (width kept in proportion, or `width`), (x/255-0.5)/0.5."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    img = img.resize((width or max(1, round(w * 48 / h)), 48), Image.BILINEAR)
    x = (np.asarray(img, np.float32) / 255.0 - 0.5) / 0.5
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


# Per model: preprocessing, calibration images, test images (the first also gets onnxruntime's value of
# every tensor with --references). MobileNetV2 has torchvision's seeded random weights
# (scripts/export_torchvision.py): its top-1 is not a real class, so the OCR models (trained
# PaddleOCR weights) are the ones whose answers tests/quant compares with the float model's.
LINES = [os.path.join(SAMPLES, f) for f in ("line_320x48.png", "line_192x48.png", "line_192x48_flipped.png")]
MODELS = {
    "mobilenet_v2": dict(pre=preprocess_imagenet,
                         calib=[os.path.join(PHOTOS, f) for f in ("astronaut.png", "rocket.jpg", "motorcycle_left.png", "coffee.png")],
                         test=[os.path.join(PHOTOS, f) for f in ("chelsea.png", "coffee.png")], ms=True),
    "ppocr_cls": dict(pre=lambda p: preprocess_ppocr(p, 192), calib=LINES, test=LINES[1:]),
    "ppocrv4_rec": dict(pre=preprocess_ppocr, calib=LINES, test=LINES[:2]),
}


def ort_run(model_path, input_name, npy, outdir, node):
    run_js = os.path.join(HERE, "ort", "run.js")
    r = subprocess.run([node, run_js, model_path, outdir, "--input", f"{input_name}={npy}", "--threads", "1"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        die(f"onnxruntime failed on {model_path}: {r.stderr.strip()}")


def sanitize(name):
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def exposed(model, names):
    """A copy of `model` with `names` added as (name-only) graph outputs."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for n in names:
        if n not in have:
            m.graph.output.append(onnx.ValueInfoProto(name=n))
    return m


def ms_quantizable(n, inits):
    """Adds of two computed tensors and GlobalAveragePool: the .qlinear_ms variant's com.microsoft ops."""
    if n.op_type == "Add":
        return all(i not in inits for i in n.input)
    return n.op_type == "GlobalAveragePool"


def quantizable(n, inits):
    """Conv and Gemm with constant weights, MatMul with a constant 2-D B."""
    if n.op_type in ("Conv", "Gemm"):
        return n.input[1] in inits
    return n.op_type == "MatMul" and n.input[1] in inits and len(inits[n.input[1]].dims) == 2


def calibrate(model, input_name, node, tmp, pre, images, ms=False):
    """min/max of every quantized node's input and output over the calibration images (onnxruntime);
    with `ms` also of the Adds and GlobalAveragePool that the .qlinear_ms variant quantizes."""
    names = set()
    inits = {i.name: i for i in model.graph.initializer}
    for n in model.graph.node:
        if quantizable(n, inits) or (ms and ms_quantizable(n, inits)):
            names.add(n.input[0])
            names.add(n.output[0])
    path = os.path.join(tmp, "calib.onnx")
    onnx.save(exposed(model, sorted(names)), path)
    lo, hi = {}, {}
    for photo in images:
        npy = os.path.join(tmp, "calib_in.npy")
        np.save(npy, pre(photo))
        out = os.path.join(tmp, "calib_out")
        ort_run(path, input_name, npy, out, node)
        for n in names:
            v = np.load(os.path.join(out, sanitize(n) + ".npy"))
            lo[n] = min(lo.get(n, 0.0), float(v.min()))
            hi[n] = max(hi.get(n, 0.0), float(v.max()))
    return {n: uint8_params(lo[n], hi[n]) for n in names}


def uint8_params(lo, hi):
    """Asymmetric uint8 scale and zero point covering [lo, hi] (which contains 0)."""
    scale = np.float32((hi - lo) / 255.0) if hi > lo else np.float32(1.0)
    zp = int(np.clip(np.round(-lo / scale), 0, 255))
    return scale, zp


def weight_int8(w, min_scale=None):
    """Symmetric int8 per output channel (axis 0): (int8 values, float32 scales). `min_scale` (per
    channel) keeps the scales at least that large: a channel whose weights are all ~0 (PP-OCR has some,
    max |w| ~ 1e-17) would otherwise get a scale so small that its bias overflows int32 at
    x_scale * w_scale (onnxruntime's quantizer widens such scales the same way)."""
    flat = w.reshape(w.shape[0], -1)
    s = (np.abs(flat).max(axis=1) / 127.0).astype(np.float32)
    if min_scale is not None:
        s = np.maximum(s, min_scale.astype(np.float32))
    s[s == 0] = 1.0
    q = np.clip(np.round(flat / s[:, None]), -127, 127).astype(np.int8).reshape(w.shape)
    return q, s


class Builder:
    """Collects new nodes and initializers for one rewritten graph."""

    def __init__(self, model):
        self.model = model
        self.inits = {i.name: i for i in model.graph.initializer}
        self.nodes = []
        self.new_inits = []

    def const(self, name, arr):
        self.new_inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def value(self, name):
        return numpy_helper.to_array(self.inits[name])

    def add(self, op, inputs, outputs, name, **attrs):
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))

    def finish(self, drop, opset=13, ms=False):
        g = self.model.graph
        keep = [i for i in g.initializer if i.name not in drop]
        graph = helper.make_graph(self.nodes, g.name, list(g.input), list(g.output), keep + self.new_inits)
        opsets = [helper.make_opsetid("", max(opset, self.model.opset_import[0].version))]
        if ms:
            opsets.append(helper.make_opsetid("com.microsoft", 1))
        m = helper.make_model(graph, producer_name="netlens quantize-models.py", opset_imports=opsets)
        m.ir_version = self.model.ir_version
        onnx.checker.check_model(m)
        return m


def attr(n, name, default):
    return next((helper.get_attribute_value(a) for a in n.attribute if a.name == name), default)


def weight_rows(n, w):
    """The weight as one row per output channel, and the axis of the output channel in `w`."""
    if n.op_type == "Conv" or (n.op_type == "Gemm" and attr(n, "transB", 0)):
        return w, 0
    return w.T, 1


def bias_of(n):
    return n.input[2] if n.op_type != "MatMul" and len(n.input) > 2 and n.input[2] else None


def weight_and_bias(b, n, x_scale):
    """(int8 rows, scales, int32 bias at x_scale * scale or None) for node n."""
    rows, _ = weight_rows(n, b.value(n.input[1]))
    bn = bias_of(n)
    if not bn:
        return (*weight_int8(rows), None)
    bias = b.value(bn).astype(np.float64)
    q, ws = weight_int8(rows, np.abs(bias) / (float(x_scale) * 2.0**30))
    bs = (np.float32(x_scale) * ws).astype(np.float32)
    return q, ws, np.round(bias / bs).astype(np.int32)


def quantize_qdq(model, params):
    b = Builder(model)
    qdq_done = {}  # float tensor name → the DequantizeLinear output that replaces it

    def qdq(t):
        if t not in qdq_done:
            s, z = params[t]
            sn, zn = b.const(f"{t}_scale", s), b.const(f"{t}_zp", np.uint8(z))
            b.add("QuantizeLinear", [t, sn, zn], [f"{t}_q"], f"{t}_QuantizeLinear")
            b.add("DequantizeLinear", [f"{t}_q", sn, zn], [f"{t}_dq"], f"{t}_DequantizeLinear")
            qdq_done[t] = f"{t}_dq"
        return qdq_done[t]

    drop = set()
    for n in model.graph.node:
        if not quantizable(n, b.inits):
            b.nodes.append(n)
            continue
        x = qdq(n.input[0])
        wn = n.input[1]
        _, axis = weight_rows(n, b.value(wn))
        q, ws, bq = weight_and_bias(b, n, params[n.input[0]][0])
        wq = b.const(f"{wn}_q", q if axis == 0 else np.ascontiguousarray(q.T))
        b.add("DequantizeLinear", [wq, b.const(f"{wn}_scale", ws), b.const(f"{wn}_zp", np.zeros(len(ws), np.int8))],
              [f"{wn}_dq"], f"{wn}_DequantizeLinear", axis=axis)
        drop.add(wn)
        ins = [x, f"{wn}_dq"]
        bn = bias_of(n)
        if bn:
            bs = (params[n.input[0]][0] * ws).astype(np.float32)
            b.add("DequantizeLinear", [b.const(f"{bn}_q", bq), b.const(f"{bn}_scale", bs)], [f"{bn}_dq"],
                  f"{bn}_DequantizeLinear", axis=0)
            drop.add(bn)
            ins.append(f"{bn}_dq")
        y = n.output[0]
        node = helper.make_node(n.op_type, ins, [f"{y}_float"], name=n.name)
        node.attribute.extend(n.attribute)
        b.nodes.append(node)
        # The output quantized too (as onnxruntime's QDQ format does): consumers read its DQ.
        s, z = params[y]
        sn, zn = b.const(f"{y}_scale", s), b.const(f"{y}_zp", np.uint8(z))
        b.add("QuantizeLinear", [f"{y}_float", sn, zn], [f"{y}_q"], f"{y}_QuantizeLinear")
        b.add("DequantizeLinear", [f"{y}_q", sn, zn], [y], f"{y}_DequantizeLinear")
        qdq_done[y] = y
    return b.finish(drop)


def quantize_qlinear(model, params, ms=False):
    """QOperator form; with `ms` the residual Adds and GlobalAveragePool become com.microsoft
    QLinearAdd / QLinearGlobalAveragePool on the uint8 tensors (their float output names kept for the
    DequantizeLinear after them, so the float model's tensors keep their names)."""
    b = Builder(model)
    quantized = {}  # float tensor name → (uint8 tensor, scale name, zp name)

    def q_of(t):
        if t not in quantized:
            s, z = params[t]
            sn, zn = b.const(f"{t}_scale", s), b.const(f"{t}_zp", np.uint8(z))
            b.add("QuantizeLinear", [t, sn, zn], [f"{t}_q"], f"{t}_QuantizeLinear")
            quantized[t] = (f"{t}_q", sn, zn)
        return quantized[t]

    drop = set()
    for n in model.graph.node:
        if ms and ms_quantizable(n, b.inits):
            y = n.output[0]
            ys, yz = params[y]
            ysn, yzn = b.const(f"{y}_scale", ys), b.const(f"{y}_zp", np.uint8(yz))
            ins = [x for t in n.input for x in q_of(t)] + [ysn, yzn]
            b.nodes.append(helper.make_node("QLinear" + n.op_type, ins, [f"{y}_q"], name=n.name,
                                            domain="com.microsoft"))
            b.add("DequantizeLinear", [f"{y}_q", ysn, yzn], [y], f"{y}_DequantizeLinear")
            quantized[y] = (f"{y}_q", ysn, yzn)
            continue
        if not quantizable(n, b.inits):
            b.nodes.append(n)
            continue
        xq, xs, xz = q_of(n.input[0])
        y = n.output[0]
        ys, yz = params[y]
        ysn, yzn = b.const(f"{y}_scale", ys), b.const(f"{y}_zp", np.uint8(yz))
        wn, bn = n.input[1], bias_of(n)
        q, ws, bq = weight_and_bias(b, n, params[n.input[0]][0])
        drop.update(t for t in (wn, bn) if t)
        wz = b.const(f"{wn}_zp", np.zeros(len(ws), np.int8))
        if n.op_type == "Conv":
            ins = [xq, xs, xz, b.const(f"{wn}_q", q), b.const(f"{wn}_scale", ws), wz, ysn, yzn]
            if bn:
                ins.append(b.const(f"{bn}_q", bq))
            node = helper.make_node("QLinearConv", ins, [f"{y}_q"], name=n.name)
            node.attribute.extend(n.attribute)
            b.nodes.append(node)
            b.add("DequantizeLinear", [f"{y}_q", ysn, yzn], [y], f"{y}_DequantizeLinear")
        else:
            # Gemm / MatMul: x W (+ bias) = DequantizeLinear(QLinearMatMul(x, W)) + bias, W per column.
            ins = [xq, xs, xz, b.const(f"{wn}_q", np.ascontiguousarray(q.T)), b.const(f"{wn}_scale", ws), wz, ysn, yzn]
            b.add("QLinearMatMul", ins, [f"{y}_q"], n.name)
            target = f"{y}_nobias" if bn else y
            b.add("DequantizeLinear", [f"{y}_q", ysn, yzn], [target], f"{y}_DequantizeLinear")
            if bn:
                b.add("Add", [target, b.const(f"{bn}_f", b.value(bn))], [y], f"{y}_bias")
        quantized[y] = (f"{y}_q", ysn, yzn)
    return b.finish(drop, ms=ms)


def quantize_dynamic(model):
    b = Builder(model)
    drop = set()
    dyn = {}  # float tensor → (uint8, scale, zp) from its DynamicQuantizeLinear
    for n in model.graph.node:
        if not quantizable(n, b.inits):
            b.nodes.append(n)
            continue
        x = n.input[0]
        if x not in dyn:
            b.add("DynamicQuantizeLinear", [x], [f"{x}_q", f"{x}_scale", f"{x}_zp"], f"{x}_DynamicQuantizeLinear")
            dyn[x] = (f"{x}_q", f"{x}_scale", f"{x}_zp")
        xq, xs, xz = dyn[x]
        y = n.output[0]
        wn, bn = n.input[1], bias_of(n)
        drop.update(t for t in (wn, bn) if t)
        rows, _ = weight_rows(n, b.value(wn))
        q8, ws = weight_int8(rows)
        qu = (q8.astype(np.int16) + 128).astype(np.uint8)  # uint8 weights, zero point 128
        wz = b.const(f"{wn}_zp", np.uint8(128))
        if n.op_type == "Conv":
            node = helper.make_node("ConvInteger", [xq, b.const(f"{wn}_q", qu), xz, wz], [f"{y}_int"], name=n.name)
            node.attribute.extend(n.attribute)
            b.nodes.append(node)
            bshape = [1, len(ws), 1, 1]
        else:
            b.add("MatMulInteger", [xq, b.const(f"{wn}_q", np.ascontiguousarray(qu.T)), xz, wz], [f"{y}_int"], n.name)
            bshape = [len(ws)]
        b.add("Cast", [f"{y}_int"], [f"{y}_cast"], f"{y}_Cast", to=TensorProto.FLOAT)
        b.add("Mul", [xs, b.const(f"{wn}_scale", ws.reshape(bshape))], [f"{y}_rescale"], f"{y}_scale_Mul")
        target = f"{y}_nobias" if bn else y
        b.add("Mul", [f"{y}_cast", f"{y}_rescale"], [target], f"{y}_Mul")
        if bn:
            b.add("Add", [target, b.const(f"{bn}_f", b.value(bn).reshape(bshape))], [y], f"{y}_bias")
    return b.finish(drop)


def prepared(path):
    """The float model with Constant-node tensors as initializers (how PaddlePaddle stores weights) and,
    below opset 13, converted to opset 12 by onnx's version converter and lifted to 13 by hand
    (Squeeze/Unsqueeze axes become an input; every Softmax of the models here is over the last axis,
    where opsets 12 and 13 agree): per-axis DequantizeLinear needs opset 13."""
    model = onnx.load(path)
    version = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if version < 13:
        model = version_converter.convert_version(model, 12)
    g = model.graph
    nodes, inits = [], list(g.initializer)
    for n in g.node:
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
            t = onnx.TensorProto()
            t.CopyFrom(n.attribute[0].t)
            t.name = n.output[0]
            inits.append(t)
            continue
        if version < 13 and n.op_type in ("Squeeze", "Unsqueeze") and attr(n, "axes", None) is not None:
            axes = f"{n.output[0]}_axes"
            inits.append(numpy_helper.from_array(np.array(attr(n, "axes", None), np.int64), axes))
            n = helper.make_node(n.op_type, [n.input[0], axes], list(n.output), name=n.name)
        nodes.append(n)
    graph = helper.make_graph(nodes, g.name, list(g.input), list(g.output), inits)
    m = helper.make_model(graph, producer_name=model.producer_name,
                          opset_imports=[helper.make_opsetid("", max(13, version))])
    m.ir_version = model.ir_version
    onnx.checker.check_model(m)
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", required=True, help="folder with <model>.onnx (the float models)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", action="append", choices=sorted(MODELS), help="default: all")
    ap.add_argument("--node", default="/usr/bin/node")
    ap.add_argument("--references", action="store_true")
    a = ap.parse_args()
    if not os.path.isdir(os.path.join(os.environ.get("NETLENS_CACHE_DIR", os.path.join(ROOT, ".cache")), "ort",
                                      "node_modules", "onnxruntime-node")):
        die("onnxruntime-node is not installed in .cache/ort; run scripts/fetch-models.sh first")
    os.makedirs(a.out, exist_ok=True)
    for name in a.model or sorted(MODELS):
        cfg = MODELS[name]
        src = os.path.join(a.models, name + ".onnx")
        if not os.path.isfile(src):
            die(f"{src} is missing; run scripts/fetch-models.sh / scripts/export-torchvision.sh first")
        model = prepared(src)
        input_name = model.graph.input[0].name
        with tempfile.TemporaryDirectory() as tmp:
            ms = cfg.get("ms", False)
            params = calibrate(model, input_name, a.node, tmp, cfg["pre"], cfg["calib"], ms)
            made = {"qdq": quantize_qdq(model, params), "qlinear": quantize_qlinear(model, params),
                    "dynamic": quantize_dynamic(model)}
            if ms:
                made["qlinear_ms"] = quantize_qlinear(model, params, ms=True)
            for kind, m in made.items():
                onnx.save(m, os.path.join(a.out, f"{name}.{kind}.onnx"))
            print(f"quantize-models: {name}.{{{','.join(made)}}}.onnx in {a.out} "
                  f"({len(params)} calibrated tensors, {len(cfg['calib'])} images)")
            if not a.references:
                continue
            inputs = os.path.join(a.out, "inputs", name)
            os.makedirs(inputs, exist_ok=True)
            files = []
            for p in cfg["test"]:
                files.append(os.path.join(inputs, os.path.splitext(os.path.basename(p))[0] + ".npy"))
                np.save(files[-1], cfg["pre"](p))
            # tests/quant: the input name and the file onnxruntime's references were computed on.
            with open(os.path.join(inputs, "reference.txt"), "w") as f:
                f.write(f"{input_name} {os.path.basename(files[0])}\n")
            for kind, m in made.items():
                outs = [o for n in m.graph.node for o in n.output if o]
                path = os.path.join(tmp, f"{kind}.all.onnx")
                onnx.save(exposed(m, outs), path)
                ort_run(path, input_name, files[0], os.path.join(a.out, "ort", f"{name}.{kind}"), a.node)


if __name__ == "__main__":
    main()
