#!/usr/bin/python3
"""Float16 models on netlens's CPU engine against onnxruntime on the same float16 model, every tensor.

  fp16_vs_ort.py NETLENS EXPOSE_OUTPUTS MODELS_DIR WORKDIR

For ResNet-50 and MobileNetV2 (.cache/models, converted by scripts/convert-float16.py) on a real photo
(skimage's chelsea.png, 224x224, ImageNet normalisation, NumPy): onnxruntime-node (graph
optimisations disabled, every node output exposed by tests/models/expose_outputs) and `netlens infer
--dump --all` must give every float tensor with the same dtype and shape, and values within
  relative L2 <= 5e-3 per tensor (measured worst 1.3e-3, ResNet-50's layer4.2 conv3; 4.9e-4 on
  MobileNetV2), and the same top-1 class, logits within relative L2 <= 2e-3 (measured 3.8e-4).
Both engines compute each float16 op in float32 and round its output to float16, so the differences
are one float16 rounding (2^-11 relative) flipped by float32 summation order, carried forward.
Guards netlens's float16 path (the F16C conversions and the shared scratch of the float32 wrapper;
when they came in, every dumped tensor stayed bit-identical to the scalar, per-kernel-scratch path).
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
REL_TENSOR, REL_LOGITS = 5e-3, 2e-3
failures = []


def run(*args, env=None):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(map(str, args))}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.stdout


img = Image.open("/usr/lib/python3/dist-packages/skimage/data/chelsea.png").convert("RGB").resize((224, 224), Image.BILINEAR)
x = (np.asarray(img, np.float32) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
x = x.transpose(2, 0, 1)[None].astype(np.float32)
xin = os.path.join(work, "chelsea224.npy")
np.save(xin, x)

for name in ("resnet50", "mobilenet_v2"):
    src = os.path.join(models, name + ".onnx")
    if not os.path.isfile(src):
        sys.exit(f"FAIL: {src} is missing (scripts/export-torchvision.sh)")
    m16 = os.path.join(work, name + "_fp16.onnx")
    run("/usr/bin/python3", os.path.join(root, "scripts", "convert-float16.py"), src, m16)
    exposed = os.path.join(work, name + "_fp16_all.onnx")
    run(expose, m16, exposed)
    iname = "input"
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
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        na = np.linalg.norm(a64.ravel())
        rel = np.linalg.norm((a64 - b64).ravel()) / na if na > 0 else np.abs(b64).max(initial=0.0)
        compared += 1
        if rel > worst[0]:
            worst = (rel, t)
        if not rel <= REL_TENSOR:
            failures.append(f"{name}: {t}: relative L2 {rel:.3g} > {REL_TENSOR}")
    if n16 < 50:
        failures.append(f"{name}: only {n16} float16 tensors compared: the conversion did not happen")
    outs = [t for t, e in ort_idx.items() if e["dtype"] == "float32" and len(e["shape"]) == 2]
    la = np.load(os.path.join(ort_dir, ort_idx[outs[-1]]["file"]))
    lb = np.load(os.path.join(nl_dir, nl_idx[outs[-1]]["file"]))
    if la.argmax() != lb.argmax():
        failures.append(f"{name}: top-1 differs: onnxruntime {la.argmax()}, netlens {lb.argmax()}")
    rel_logits = np.linalg.norm(la - lb) / np.linalg.norm(la)
    if not rel_logits <= REL_LOGITS:
        failures.append(f"{name}: logits relative L2 {rel_logits:.3g} > {REL_LOGITS}")
    print(f"{name} float16: {compared} tensors ({n16} float16) compared; worst relative L2 {worst[0]:.3g} "
          f"({worst[1]}); logits {rel_logits:.3g}, top-1 {la.argmax()} both")

if failures:
    print("\n".join(failures[:40]))
    sys.exit(f"FAIL: {len(failures)} mismatches")
print("PASS")
