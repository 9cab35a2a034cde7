#!/usr/bin/python3
"""`netlens inspect --diff` / `--input-b` against a direct NumPy computation.

  diff_fp16.py NETLENS MODELS_DIR WORKDIR

1. MobileNetV2 (fp32) against its float16 conversion (scripts/convert-float16.py) on a real photo:
   every compared tensor's max_abs_diff, mean_abs_diff and rel_l2_diff equal NumPy's over the two
   models' `infer --dump --all` outputs (an independent path: no diff code, float64 NumPy), to
   1e-9 relative (+1e-12 absolute: only the order of summation differs); the ranking is the order of
   NumPy's rel_l2 (ties by max_abs); the only unmatched tensors are the conversion's two casts; the
   logits differ (the conversion is real) but stay within float16's precision (rel_l2 < 1e-2).
2. A model against itself: zero everywhere (every figure exactly 0, identical == compared).
3. One model on two photos (--input-b): the same NumPy check.
4. Tensors whose shapes differ (PP-OCRv4 rec on a 192- and a 320-pixel-wide line) are reported as
   unmatched "shape differs", not an error.
"""
import json
import os
import subprocess
import sys

import numpy as np

netlens, models, work = sys.argv[1], sys.argv[2], sys.argv[3]
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
photos = "/usr/lib/python3/dist-packages/skimage/data"
os.makedirs(work, exist_ok=True)
failures = []


def run(*args):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(map(str, args))}\n{p.stderr}")
    return p.stdout


def inspect(model, image, *extra):
    return json.loads(run(netlens, "inspect", model, "--input", image, "--brief", "--top", "0", *extra))["diff"]


def dump(model, image, name):
    d = os.path.join(work, name)
    run(netlens, "infer", model, "--input", image, "--dump", d, "--all")
    idx = json.load(open(os.path.join(d, "index.json")))
    return lambda t: np.load(os.path.join(d, idx[t]["file"])).astype(np.float64), idx


def check_against_numpy(label, diff, dump_a, dump_b):
    load_a, idx_a = dump_a
    load_b, _ = dump_b
    close = lambda got, want: abs(got - want) <= 1e-9 * abs(want) + 1e-12
    rels = []
    for t in diff["tensors"]:
        a, b = load_a(t["tensor"]), load_b(t["tensor"])
        e = np.abs(a - b)
        na, nd = np.linalg.norm(a.ravel()), np.linalg.norm(e.ravel())
        want = {"max_abs_diff": e.max(), "mean_abs_diff": e.mean(), "rel_l2_diff": nd / na if na > 0 else 0.0}
        for k, v in want.items():
            if not close(t[k], v):
                failures.append(f"{label}: {t['tensor']} {k} = {t[k]!r}, NumPy {v!r}")
        rels.append((-want["rel_l2_diff"], -want["max_abs_diff"], t["tensor"]))
    # Every non-constant float tensor of A is compared or unmatched.
    seen = {t["tensor"] for t in diff["tensors"]} | {u["tensor"] for u in diff["unmatched"]}
    want_seen = {n for n, e in idx_a.items() if e["op_type"] != "Constant" and e["dtype"].startswith("float")}
    if not want_seen <= seen:
        failures.append(f"{label}: not compared: {sorted(want_seen - seen)[:5]}")
    # The ranking: NumPy's rel_l2 descending; equal figures may come in either order.
    order = [r["tensor"] for r in diff["ranking"]]
    by_np = {n: (r, m) for r, m, n in rels}
    keys = [by_np[n] for n in order]
    for i in range(1, len(keys)):
        if keys[i] < keys[i - 1] and not (abs(keys[i][0] - keys[i - 1][0]) <= 1e-12 * abs(keys[i][0]) + 1e-15):
            failures.append(f"{label}: ranking out of order at {i}: {order[i - 1]} then {order[i]}")
            break
    print(f"{label}: {len(diff['tensors'])} tensors equal NumPy's figures; top: {order[0]} "
          f"rel_l2 {diff['tensors'][[t['tensor'] for t in diff['tensors']].index(order[0])]['rel_l2_diff']:.3g}")


mnv2 = os.path.join(models, "mobilenet_v2.onnx")
fp16 = os.path.join(work, "mobilenet_v2_fp16.onnx")
cat, astro = f"{photos}/chelsea.png", f"{photos}/astronaut.png"
run("/usr/bin/python3", os.path.join(root, "scripts", "convert-float16.py"), mnv2, fp16)

# 1. fp32 vs float16.
d = inspect(mnv2, cat, "--diff", fp16)
da, db = dump(mnv2, cat, "a"), dump(fp16, cat, "b")
check_against_numpy("fp32 vs float16", d, da, db)
if sorted(u["tensor"] for u in d["unmatched"]) != ["input__fp16", "logits__fp16"] or \
        any(u["reason"] != "missing in A" for u in d["unmatched"]):
    failures.append(f"fp32 vs float16: unexpected unmatched {d['unmatched']}")
logits = [t for t in d["tensors"] if t["tensor"] == "logits"][0]
if not 0 < logits["rel_l2_diff"] < 1e-2:
    failures.append(f"fp32 vs float16: logits rel_l2 {logits['rel_l2_diff']} not in (0, 1e-2)")
print(f"  logits: max_abs {logits['max_abs_diff']:.3g}, rel_l2 {logits['rel_l2_diff']:.3g}; "
      f"summary {json.dumps({k: v for k, v in d['summary'].items() if k != 'outputs'})}")

# 2. A model against itself.
s = inspect(mnv2, cat, "--diff", mnv2)
nonzero = [t["tensor"] for t in s["tensors"] if t["max_abs_diff"] or t["mean_abs_diff"] or t["rel_l2_diff"] or t["l2_diff"]]
if nonzero or s["unmatched"] or s["summary"]["identical"] != s["summary"]["compared"] or s["summary"]["compared"] < 100:
    failures.append(f"self diff not zero everywhere: {nonzero[:5]} unmatched {s['unmatched'][:3]} summary {s['summary']}")
print(f"self: {s['summary']['compared']} tensors, all exactly 0")

# 3. Two inputs on one model.
i2 = inspect(mnv2, cat, "--input-b", astro)
check_against_numpy("two photos", i2, da, dump(mnv2, astro, "c"))
if i2["mode"] != "inputs":
    failures.append(f"--input-b mode {i2['mode']}")

# 4. Shapes that differ are unmatched, not an error.
rec = os.path.join(models, "ppocrv4_rec.onnx")
r = inspect(rec, os.path.join(root, "assets/samples/line_192x48.png"), "--input-b",
            os.path.join(root, "assets/samples/line_320x48.png"))
differ = [u for u in r["unmatched"] if u["reason"] == "shape differs"]
if not differ or any(u["shape_a"] == u["shape_b"] for u in differ):
    failures.append(f"rec 192 vs 320: expected 'shape differs' entries, got {r['unmatched'][:3]}")
print(f"rec 192 vs 320 px: {len(r['tensors'])} compared, {len(differ)} unmatched (shape differs)")

# Bad input: one line, non-zero exit.
p = subprocess.run([netlens, "inspect", mnv2, "--input", cat, "--diff", os.path.join(work, "nope.onnx")],
                   capture_output=True, text=True)
if p.returncode == 0 or len(p.stderr.strip().splitlines()) != 1:
    failures.append(f"missing --diff model: rc {p.returncode}, stderr {p.stderr!r}")

if failures:
    print("\n".join("FAIL: " + f for f in failures[:30]))
    sys.exit(1)
print("ok")
