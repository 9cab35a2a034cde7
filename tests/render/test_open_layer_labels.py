#!/usr/bin/python3
"""Open layers keep other layers' labels off their grid (issue 16). With `render --open TENSOR` the
camera faces the grid and the layers downstream of it lie behind the tiles: their labels must not
be drawn over the grid; the open layer's own label stays (on the grid's top edge).

MobileNetV2 on skimage's chelsea.png, features.1's 16x112x112 projection opened (a 4x4 grid of
112x112 tiles, gaps of 1/8 tile, docs/render.md "Open layers"), 800x500, at t = 1 and t = 0.5:
  - the grid's screen rectangle is computed here from the layout (`--layout-json`: the layer's
    centre and size), the documented grid rules and the saved camera (`--save-camera`: yaw = pitch
    = 0, eye on -X), as a conservative bounding box (the whole x extent of the layer);
  - no label rectangle of `--layout-json` (the boxes the renderer draws) other than the open
    layer's intersects it; the open layer's label is there; at t = 0.5 labels of layers outside the
    grid are still drawn (>= 1);
  - in the picture, the grid minus the open layer's label holds (almost) no label text: <= 40
    near-white grey pixels (the label title colour; measured 0 at both t; before the fix the t = 1
    picture showed 7 downstream layers' labels over the tiles).
A missing model or photo fails (no skip).
usage: test_open_layer_labels.py NETLENS MODELS_DIR OUT_DIR
"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnv2_chelsea  # noqa: E402

import numpy as np
from PIL import Image

netlens, out, model, photo = mnv2_chelsea.setup()
T = "/features/features.1/conv/conv.1/Conv_output_0"
W, H = 800, 500


def run(args):
    mnv2_chelsea.run([netlens] + args)


def grid_rect(layer, cam, t):
    cx, cy, cz = layer["center"]
    sx, th, tw = layer["size"]
    cols, rows = 4, 4  # 16 channels
    gap = 0.125 * min(th, tw)
    s = t * t * (3 - 2 * t)  # smoothstep easing of the opening
    gy, gz = rows * th + (rows - 1) * gap, cols * tw + (cols - 1) * gap
    # Union over tiles of lerp(closed, open): the extreme tiles bound it.
    ylo = (1 - s) * (cy - th / 2) + s * (cy - gy / 2)
    yhi = (1 - s) * (cy + th / 2) + s * (cy + gy / 2)
    zlo = (1 - s) * (cz - tw / 2) + s * (cz - gz / 2)
    zhi = (1 - s) * (cz + tw / 2) + s * (cz + gz / 2)
    assert cam["yaw_deg"] == 0 and cam["pitch_deg"] == 0, cam
    tx, ty, tz = cam["target"]
    ex = tx - cam["distance"]
    f = H / (2 * math.tan(math.radians(cam["fov_y_deg"]) / 2))
    xs, ys = [], []
    for x in (cx - sx / 2, cx + sx / 2):
        for y in (ylo, yhi):
            for z in (zlo, zhi):
                d = x - ex
                xs.append(W / 2 + (z - tz) / d * f)  # +Z is screen right
                ys.append(H / 2 - (y - ty) / d * f)  # +Y is up
    x0, x1, y0, y1 = max(min(xs), 0), min(max(xs), W), max(min(ys), 0), min(max(ys), H)
    return x0, y0, x1, y1


def texty(a):  # the label title colour (0.95, 0.96, 0.98): bright and grey, unlike the colour maps
    return (a.min(axis=-1) >= 170) & (a.max(axis=-1) - a.min(axis=-1) <= 25)


for t in ("1", "0.5"):
    png, lj, cj = (os.path.join(out, f"open_{t}.{e}") for e in ("png", "json", "cam.json"))
    run(["render", model, "--input", photo, "--size", f"{W}x{H}", "--open", T, "--open-t", t, "--out", png,
         "--layout-json", lj, "--save-camera", cj])
    j, cam = json.load(open(lj)), json.load(open(cj))
    li = next(i for i, l in enumerate(j["layers"]) if l["tensor"] == T)
    gx0, gy0, gx1, gy1 = grid_rect(j["layers"][li], cam, float(t))
    print(f"t={t}: grid on screen x {gx0:.0f}..{gx1:.0f}, y {gy0:.0f}..{gy1:.0f}; {len(j['labels'])} labels")
    assert gx1 - gx0 > 100 and gy1 - gy0 > 100, (gx0, gy0, gx1, gy1)
    own, others = None, []
    for lb in j["labels"]:
        x, y, w, h = lb["rect"]
        hit = x < gx1 and x + w > gx0 and y < gy1 and y + h > gy0
        if lb["layer"] == li:
            own = lb
        else:
            others.append(lb)
            assert not hit, f"t={t}: label {lb['text']} {lb['rect']} drawn over the open grid"
    assert own is not None, f"t={t}: the open layer has no label"
    if t == "0.5":
        assert len(others) >= 1, "no label outside the grid at t = 0.5"
    img = np.asarray(Image.open(png).convert("RGB")).astype(np.int32)
    mask = np.zeros((H, W), bool)
    mask[int(gy0):int(math.ceil(gy1)), int(gx0):int(math.ceil(gx1))] = True
    x, y, w, h = own["rect"]
    mask[max(int(y) - 2, 0):int(y + h) + 3, max(int(x) - 2, 0):int(x + w) + 3] = False
    n = int((texty(img) & mask).sum())
    print(f"t={t}: label-text pixels on the grid outside the open layer's label: {n}")
    assert n <= 40, n
print("ok")
