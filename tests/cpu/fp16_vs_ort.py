#!/usr/bin/python3
"""Float16 models on netlens's CPU engine against onnxruntime on the same float16 model, every tensor.

  fp16_vs_ort.py NETLENS EXPOSE_OUTPUTS MODELS_DIR WORKDIR

For ResNet-50, MobileNetV2 (224x224) and PP-OCRv4 det (480x320; .cache/models, converted by
scripts/convert-float16.py) on a real photo (skimage's chelsea.png, ImageNet normalisation, NumPy):
onnxruntime-node (graph
optimisations disabled, every node output exposed by tests/models/expose_outputs) and `netlens infer
--dump --all` must give every float tensor with the same dtype and shape, and values within
  infinities and NaNs at the same places, the finite elements within relative L2 <= 5e-3 per tensor
  (measured worst 1.3e-3, ResNet-50's layer4.2 conv3; 4.9e-4 on MobileNetV2) and <= 2e-2 on det's
  ~660 tensors (measured 6.9e-3, its deepest Mul/Add chains); the graph output within relative
  L2 <= 2e-3 (ResNet-50's logits 4e-4), and classifiers the same top-1 class.
det's conversion overflows its first BatchNormalization's variances to inf (values > 65504), so its
later tensors are partly non-finite and its output is 0 in both engines; it still exercises every
float16 elementwise path (Mul/Add/Clip/Div/HardSigmoid, chunked, with scalar broadcasts).
Both engines compute each float16 op in float32 and round its output to float16, so the differences
are one float16 rounding (2^-11 relative) flipped by float32 summation order, carried forward.
Guards netlens's float16 path (the F16C conversions and the shared scratch of the float32 wrapper;
when they came in, every dumped tensor stayed bit-identical to the scalar, per-kernel-scratch path;
the chunked elementwise path gives the same bits as NETLENS_FP16_CHUNKED=0 on all three models).
A missing model or onnxruntime fails (scripts/fetch-models.sh, scripts/export-torchvision.sh).
"""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

netlens, expose, models, work = sys.argv[1:5]
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.makedirs(work, exist_ok=True)
REL_TENSOR, REL_DET, REL_LOGITS = 5e-3, 2e-2, 2e-3
failures = []


def run(*args, env=None):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(map(str, args))}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.stdout


def rel_l2(a, b):
    """Relative L2 over the finite elements (absolute when those are all 0); None when the
    non-finite elements (inf, -inf, NaN) are not the same in both."""
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not (np.array_equal(fa, fb) and np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(a[~fa & ~np.isnan(a)], b[~fb & ~np.isnan(b)])):
        return None
    na, nd = np.linalg.norm(a[fa]), np.linalg.norm(a[fa] - b[fa])
    return nd / na if na > 0 else nd


def photo(w, h):
    img = Image.open("/usr/lib/python3/dist-packages/skimage/data/chelsea.png").convert("RGB").resize((w, h), Image.BILINEAR)
    x = (np.asarray(img, np.float32) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    path = os.path.join(work, f"chelsea{w}x{h}.npy")
    np.save(path, x.transpose(2, 0, 1)[None].astype(np.float32))
    return path


# model, input name, input file, classifier (top-1 compared), per-tensor tolerance
cases = [("resnet50", "input", photo(224, 224), True, REL_TENSOR), ("mobilenet_v2", "input", photo(224, 224), True, REL_TENSOR),
         ("ppocrv4_det", "x", photo(480, 320), False, REL_DET)]
for name, iname, xin, classifier, tol in cases:
    src = os.path.join(models, name + ".onnx")
    if not os.path.isfile(src):
        sys.exit(f"FAIL: {src} is missing (scripts/export-torchvision.sh)")
    m16 = os.path.join(work, name + "_fp16.onnx")
    run("/usr/bin/python3", os.path.join(root, "scripts", "convert-float16.py"), src, m16)
    exposed = os.path.join(work, name + "_fp16_all.onnx")
    run(expose, m16, exposed)
    ort_dir, nl_dir = os.path.join(work, name + "_ort"), os.path.join(work, name + "_nl")
    run("node", os.path.join(root, "scripts", "ort", "run.js"), exposed, ort_dir, "--input", f"{iname}={xin}")
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    run(netlens, "infer", m16, "--backend", "cpu", "--input", f"{iname}={xin}", "--dump", nl_dir, "--all", env=env)
    ort_idx = {e["name"]: e for e in json.load(open(os.path.join(ort_dir, "index.json")))["outputs"]}
    nl_idx = json.load(open(os.path.join(nl_dir, "index.json")))
    compared, worst = 0, (0.0, "")
    n16 = 0
    for t, e in ort_idx.items():
        if not e["dtype"].startswith("float"):
            continue
        if t not in nl_idx:
            failures.append(f"{name}: {t} is not in netlens's dump")
            continue
        a = np.load(os.path.join(ort_dir, e["file"]))
        b = np.load(os.path.join(nl_dir, nl_idx[t]["file"]))
        if a.dtype != b.dtype or a.shape != b.shape:
            failures.append(f"{name}: {t}: onnxruntime {a.dtype}{a.shape}, netlens {b.dtype}{b.shape}")
            continue
        n16 += a.dtype == np.float16
        rel = rel_l2(a, b)
        compared += 1
        if rel is None:
            failures.append(f"{name}: {t}: infinities/NaNs at different places")
            continue
        if rel > worst[0]:
            worst = (rel, t)
        if not rel <= tol:
            failures.append(f"{name}: {t}: relative L2 {rel:.3g} > {tol}")
    if n16 < 50:
        failures.append(f"{name}: only {n16} float16 tensors compared: the conversion did not happen")
    # The graph output: the float32 tensor the conversion casts back (the first ort output).
    out = next(iter(ort_idx))
    la = np.load(os.path.join(ort_dir, ort_idx[out]["file"])).astype(np.float64)
    lb = np.load(os.path.join(nl_dir, nl_idx[out]["file"])).astype(np.float64)
    if classifier and la.argmax() != lb.argmax():
        failures.append(f"{name}: top-1 differs: onnxruntime {la.argmax()}, netlens {lb.argmax()}")
    rel_logits = rel_l2(la, lb)
    if rel_logits is None or not rel_logits <= REL_LOGITS:
        failures.append(f"{name}: output {out} relative L2 {rel_logits:.3g} > {REL_LOGITS}")
    print(f"{name} float16: {compared} tensors ({n16} float16) compared; worst relative L2 {worst[0]:.3g} "
          f"({worst[1]}); output {out} {rel_logits:.3g}" + (f", top-1 {la.argmax()} both" if classifier else ""))

if failures:
    print("\n".join(failures[:40]))
    sys.exit(f"FAIL: {len(failures)} mismatches")
print("PASS")
