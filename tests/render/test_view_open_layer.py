#!/usr/bin/python3
"""Open layers in the window viewer, under Xvfb (run by CTest as render_view_open_layer; a missing model,
photo or tool fails, never skips). MobileNetV2 on skimage's chelsea.png, the 16x112x112 features.1
projection selected (--select), a viewer script presses E (`key e`):

1. After the 0.5 s opening (30 scripted frames of 1/30 s) the camera the viewer saved equals the one
   `render --open` frames the grid with (viz::open_layer_camera; every number within 1e-4 relative),
   and the screenshot equals that offscreen render within 2 LSB on >= 99.9 % of pixels below the title
   block (the subtitle carries the viewer's own counts).
2. A click on the second row's second tile picks the opened tensor, channel 5 (16 square channels:
   a 4x4 grid in reading order), with the value `infer --dump --all` has at [0, 5, y, x] (1e-6 rel.).
3. E again closes the layer and flies back: the camera equals the one before E, and the screenshot
   equals `render --select` with the layer closed (same tolerance).
usage: test_view_open_layer.py NETLENS MODELS_DIR WORKDIR
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

NETLENS, MODELS, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
MODEL = os.path.join(MODELS, "mobilenet_v2.onnx")
PHOTO = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"
T = "/features/features.1/conv/conv.1/Conv_output_0"
W, H = 640, 360
TOP = 70  # title block rows, masked
failures = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        failures.append(msg)


def run(args, xvfb=False):
    cmd = (["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24"] if xvfb else []) + [NETLENS] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=WORK)
    if p.returncode != 0:
        print(p.stderr)
        raise SystemExit("FAIL: " + " ".join(cmd) + f" exited {p.returncode}")
    return p


def img(name):
    return np.asarray(Image.open(os.path.join(WORK, name)).convert("RGB"), dtype=np.int16)


def close_to(a, b, what):
    d = np.abs(img(a) - img(b)).max(axis=2)[TOP:]
    frac = float(np.mean(d > 2))
    check(frac <= 0.001, f"{what}: {a} vs {b}: {frac * 100:.4f} % of pixels beyond 2 LSB (max {int(d.max())})")


def same_camera(a, b, what):
    ca, cb = json.load(open(os.path.join(WORK, a))), json.load(open(os.path.join(WORK, b)))
    bad = []
    for k, va in ca.items():
        vb = cb.get(k)
        for x, y in zip(va if isinstance(va, list) else [va], vb if isinstance(vb, list) else [vb]):
            if x is None or y is None or isinstance(x, (bool, str)):
                ok = x == y
            else:
                ok = abs(float(x) - float(y)) <= 1e-4 * max(1.0, abs(float(y)))
            if not ok:
                bad.append((k, va, vb))
    check(not bad and ca.keys() == cb.keys(), f"{what}: {a} == {b} {bad}")


if not shutil.which("xvfb-run"):
    raise SystemExit("FAIL: xvfb-run is not installed (scripts/setup.sh installs xvfb)")
for f in (MODEL, PHOTO):
    if not os.path.exists(f):
        raise SystemExit(f"FAIL: missing {f} (scripts/fetch-models.sh)")
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
common = [MODEL, "--input", PHOTO, "--size", f"{W}x{H}", "--select", T + ":0"]

# The 4x4 grid framed face-on: rows and columns of ~84 px from (236, 11); tile (1, 1) centred at
# about (278, 137). The click comes after the screenshots (it changes the selection).
open(os.path.join(WORK, "s.txt"), "w").write("""key h
frames 3
save-camera before.json
key e
frames 30
save-camera open.json
screenshot open.png
frames 1
key e
frames 30
save-camera closed.json
screenshot closed.png
frames 1
key e
frames 30
click 278 137
frames 2
close
""")
p = run(["view"] + common + ["--script", "s.txt"], xvfb=True)
run(["render"] + common + ["--open", T, "--out", "ref_open.png", "--save-camera", "ref_open.json"])
run(["render"] + common + ["--out", "ref_closed.png"])
same_camera("open.json", "ref_open.json", "E: the viewer flew to the open-layer camera")
close_to("open.png", "ref_open.png", "E: the opened grid")
same_camera("closed.json", "before.json", "E again: back to the camera before")
close_to("closed.png", "ref_closed.png", "E again: the layer closed")

picks = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
check(len(picks) == 1, f"one pick printed ({len(picks)})")
if picks:
    pk = picks[-1]
    run(["infer", MODEL, "--input", PHOTO, "--dump", "dump", "--all"])
    ref = np.load(os.path.join(WORK, "dump", T.replace("/", "_") + ".npy"))
    k, y, x = pk.get("index", [-1, 0, 0])
    check(pk.get("tensor") == T and k == 5, f"the click on tile (1, 1) picks channel 5 of the opened layer: {pk}")
    if k >= 0:
        want = float(ref[0, k, y, x])
        check(abs(pk["value"] - want) <= 1e-6 * max(abs(want), 1e-6) + 1e-9, f"picked value {pk['value']} == dump {want}")
if failures:
    raise SystemExit(f"FAIL: {len(failures)} check(s)")
print("view open layer: ok")
