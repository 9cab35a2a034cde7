#!/usr/bin/python3
"""Tiled stills keep their labels (issue 16): `netlens record --still` cut into tiles must equal one
render of the whole frame, title, legend and layer labels included (the labels pass places them
with the full frame's size and projection and shifts each into its tile).

MobileNetV2 on a real photo (skimage's chelsea.png) at 1024x576:
  - `record --still --tile 300` (8 off-axis tiles of at most 300 px) against `render` of the same
    size (one piece, the reference the user sees): >= 99.5 % of pixels within 2 LSB (measured
    99.998 %; the rest are triangle/glyph edges rasterised from a scaled and shifted projection).
  - The labels are there: each label rectangle `render --layout-json` writes (the renderer places
    the same boxes) holds near-white, grey text pixels in the tiled still (the title colour), for
    >= 90 % of the labels; the title band top left does too.
  - --tile 8192 (one piece) equals `render` too (same bound), so a tile size never changes a still.
A missing model or photo fails (no skip).
usage: test_still_tiled.py NETLENS MODELS_DIR OUT_DIR
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnv2_chelsea  # noqa: E402

import numpy as np
from PIL import Image

netlens, out, model, photo = mnv2_chelsea.setup()


def run(args):
    return mnv2_chelsea.run([netlens] + args)[1]


def rgb(p):
    return np.asarray(Image.open(p).convert("RGB")).astype(np.int32)


direct, lj = os.path.join(out, "direct.png"), os.path.join(out, "layout.json")
run(["render", model, "--input", photo, "--size", "1024x576", "--out", direct, "--layout-json", lj])
ref = rgb(direct)
for tile, want_tiles in (("300", "8 tiles"), ("8192", "1 tile")):
    p = os.path.join(out, f"still_{tile}.png")
    err = run(["record", model, "--input", photo, "--size", "1024x576", "--still", p, "--tile", tile])
    assert want_tiles in err, err
    img = rgb(p)
    assert img.shape == ref.shape == (576, 1024, 3), (img.shape, ref.shape)
    d = np.abs(img - ref).max(axis=-1)
    within = float(np.mean(d <= 2))
    print(f"--tile {tile}: {within * 100:.4f} % of pixels within 2 LSB of render, {float(np.mean(d == 0)) * 100:.3f} % identical")
    assert within >= 0.995, within
    if tile == "300":
        tiled = img


def texty(a):  # the label title colour (0.95, 0.96, 0.98): bright and grey, unlike the colour maps
    return (a.min(axis=-1) >= 170) & (a.max(axis=-1) - a.min(axis=-1) <= 25)


labels = json.load(open(lj))["labels"]
assert len(labels) >= 10, len(labels)
ok = 0
for lb in labels:
    x, y, w, h = lb["rect"]
    x0, y0, x1, y1 = max(int(x), 0), max(int(y), 0), min(int(x + w), 1024), min(int(y + h), 576)
    n = int(texty(tiled[y0:y1, x0:x1]).sum())
    ok += n >= 10
print(f"labels with text pixels in the tiled still: {ok} of {len(labels)}")
assert ok >= 0.9 * len(labels), (ok, len(labels))
assert int(texty(tiled[10:60, 10:200]).sum()) >= 50, "no title in the tiled still"
print("ok")
