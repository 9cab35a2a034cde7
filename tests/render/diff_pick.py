#!/usr/bin/python3
"""`render --diff MODEL_B | --input-b FILE [--diff-kind abs|rel]`: the value --pick reads at a pixel is
the difference NumPy computes from the two runs' `infer --dump --all` outputs (an independent path:
the dump goes through no diff code, layout, scene or renderer).

  diff_pick.py NETLENS MODELS_DIR WORKDIR

abs: |a-b|; rel: |a-b| / (|a| + 1e-6 max|a|) (values.hpp's definition). Tolerance: 1e-6 relative
(+1e-12): float32 figures printed with 9 significant digits. MobileNetV2 fp32 against its float16
conversion (scripts/convert-float16.py) and against a second photo; a model against itself picks 0;
with --ui the Diff panel is drawn with its ranking bars.
"""
import json
import os
import subprocess
import sys

import numpy as np

netlens, models, work = sys.argv[1], sys.argv[2], sys.argv[3]
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
photos = "/usr/lib/python3/dist-packages/skimage/data"
cat, astro = f"{photos}/chelsea.png", f"{photos}/astronaut.png"
os.makedirs(work, exist_ok=True)
mnv2 = os.path.join(models, "mobilenet_v2.onnx")
fp16 = os.path.join(work, "mobilenet_v2_fp16.onnx")
failures = []


def run(*args):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(map(str, args))}\n{p.stderr}")
    return p.stdout


def dump(model, image, name):
    d = os.path.join(work, name)
    run(netlens, "infer", model, "--input", image, "--dump", d, "--all")
    idx = json.load(open(os.path.join(d, "index.json")))
    return lambda t: np.load(os.path.join(d, idx[t]["file"])).astype(np.float64)


run("/usr/bin/python3", os.path.join(root, "scripts", "convert-float16.py"), mnv2, fp16)
A = dump(mnv2, cat, "a")
cases = [("fp16 abs", ["--diff", fp16], "abs", dump(fp16, cat, "b")),
         ("fp16 rel", ["--diff", fp16, "--diff-kind", "rel"], "rel", None),
         ("photos abs", ["--input-b", astro], "abs", dump(mnv2, astro, "c"))]
cases[1] = (cases[1][0], cases[1][1], cases[1][2], cases[0][3])
layers = ["/features/features.4/conv/conv.0/conv.0.0/Conv_output_0", "/features/features.14/conv/conv.1/conv.1.2/Clip_output_0"]
picked = 0
for label, flags, kind, B in cases:
    for layer in layers:
        for xy in ["320,200", "345,215"]:
            out = run(netlens, "render", mnv2, "--input", cat, *flags, "--view", f"layer:{layer}", "--size", "640x400",
                      "--out", os.path.join(work, "p.png"), "--pick", xy)
            p = json.loads(out.strip().splitlines()[-1])
            if p is None or p.get("tensor") is None:
                failures.append(f"{label} {layer} {xy}: the pick hit no neuron")
                continue
            name, idx = p["tensor"], tuple(p["tensor_index"])
            a, b = A(name), B(name)
            e = np.abs(a - b)
            want = e[idx] if kind == "abs" else (0.0 if e[idx] == 0 else e[idx] / (abs(a[idx]) + 1e-6 * np.abs(a).max()))
            got = float(p["value"])
            print(f"{label}: {name}{list(idx)} shown {got:.9g}, NumPy {want:.9g}")
            picked += 1
            if abs(got - want) > 1e-6 * abs(want) + 1e-12:
                failures.append(f"{label}: {name}{list(idx)} shown {got} but NumPy gives {want}")

# A model against itself: zero where picked.
out = run(netlens, "render", mnv2, "--input", cat, "--diff", mnv2, "--view", f"layer:{layers[0]}", "--size", "640x400",
          "--out", os.path.join(work, "self.png"), "--pick", "320,200")
p = json.loads(out.strip().splitlines()[-1])
if p is None or p["value"] != 0:
    failures.append(f"self diff picked {p}")
# --ui: the Diff panel is drawn (its rectangle) and holds the ranking's orange bars.
rects = os.path.join(work, "rects.json")
run(netlens, "render", mnv2, "--input", cat, "--diff", fp16, "--ui", "--ui-rects", rects, "--size", "1600x900",
    "--out", os.path.join(work, "ui.png"))
panel = [r for r in json.load(open(rects))["panels"] if r["name"] == "Diff"]
if not panel or panel[0]["w"] < 100 or panel[0]["h"] < 100:
    failures.append(f"--ui: no Diff panel in {rects}")
else:
    from PIL import Image
    r = panel[0]
    img = np.asarray(Image.open(os.path.join(work, "ui.png")).convert("RGB")).astype(int)
    box = img[int(r["y"]):int(r["y"] + r["h"]), int(r["x"]):int(r["x"] + r["w"])]
    orange = np.sum((np.abs(box[..., 0] - 255) < 12) & (np.abs(box[..., 1] - 158) < 14) & (np.abs(box[..., 2] - 46) < 14))
    print(f"Diff panel {int(r['w'])}x{int(r['h'])} px, {orange} bar pixels")
    if orange < 500:
        failures.append(f"--ui: the Diff panel shows no ranking bars ({orange} orange pixels)")
# Bad flags: one error line (usage errors add the usage), non-zero exit.
for bad in (["--diff-kind", "rel"], ["--diff", mnv2, "--diff-kind", "log"], ["--diff", mnv2, "--metric", "flops"],
            ["--diff", os.path.join(work, "nope.onnx")]):
    r = subprocess.run([netlens, "render", mnv2, "--input", cat, "--out", os.path.join(work, "x.png"), *bad],
                       capture_output=True, text=True)
    errors = [l for l in r.stderr.splitlines() if "error:" in l]
    if r.returncode == 0 or len(errors) != 1:
        failures.append(f"{bad}: rc {r.returncode}, stderr {r.stderr!r}")
if failures:
    print("\n".join("FAIL: " + f for f in failures))
    sys.exit(1)
print(f"ok: {picked} picks equal NumPy's differences; self diff 0; Diff panel drawn; bad flags refused in one line")
