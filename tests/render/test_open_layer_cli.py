#!/usr/bin/python3
"""Open layers end to end (issue 16): MobileNetV2 on a real photo (skimage's chelsea.png), its
16x112x112 features.1 projection opened into a grid of tiles, seen by the layer's focus camera.

  - Picks at pixels of four different tiles name that layer, a channel and (y, x), and the value
    equals `netlens infer --dump --all` of the tensor at [0, k, y, x] (relative 1e-6): the ID buffer
    maps a tile back to its neuron.
  - The tiles are in reading order: 16 square channels make a 4x4 grid, so of two picks on one
    screen row the right one's channel is the next one, and a pick below is 4 channels later.
  - Without --view the camera faces the grid: picks on a 6x4 lattice over the frame land on its
    tiles (>= 40 % of 24, in reading order along rows), against at most 1 of 6 from the overview.
  - --open-t 0 renders the plain frame byte for byte.
A missing model or photo fails (no skip): scripts/fetch-models.sh makes the model.
usage: test_open_layer_cli.py NETLENS MODELS_DIR OUT_DIR
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnv2_chelsea  # noqa: E402

import numpy as np

netlens, out, model, photo = mnv2_chelsea.setup()
T = "/features/features.1/conv/conv.1/Conv_output_0"
base = [netlens, "render", model, "--input", photo, "--size", "800x500"]


def run(args):
    return mnv2_chelsea.run(args)[0]


dump = os.path.join(out, "dump")
run([netlens, "infer", model, "--input", photo, "--dump", dump, "--all"])
ref = np.load(os.path.join(dump, T.replace("/", "_") + ".npy"))
assert ref.shape == (1, 16, 112, 112), ref.shape

picks = {}
for px in [(200, 100), (600, 100), (200, 350), (600, 350)]:
    line = run(base + ["--open", T, "--view", "layer:" + T, "--out", os.path.join(out, "open_pick.png"),
                       "--pick", "%d,%d" % px]).strip().splitlines()[-1]
    p = json.loads(line)
    assert p["tensor"] == T, (px, p)
    k, y, x = p["index"]
    want = float(ref[0, k, y, x])
    assert abs(p["value"] - want) <= 1e-6 * max(abs(want), 1e-6) + 1e-9, (px, p, want)
    picks[px] = k
    print("pick", px, "-> channel", k, "(y, x) =", (y, x), "value", p["value"], "reference", want)
ks = list(picks.values())
assert len(set(ks)) == 4, picks  # four different tiles
assert picks[(600, 100)] == picks[(200, 100)] + 1, picks
assert picks[(600, 350)] == picks[(200, 350)] + 1, picks
assert picks[(200, 350)] == picks[(200, 100)] + 4, picks

# The camera faces the opened grid when neither --view nor --camera is given (the overview sees the
# grid edge-on). Picks on a regular lattice (the centres of a 6x4 division of the 640x360 frame)
# estimate the share of the frame the tiles cover through the ID buffer: at least 40 % of them land
# on the opened tensor (geometry: the square grid spans ~94 % of the height, so 16 tiles of ~77 px
# cover ~41 % of the frame's area), each with the dumped value, and along a lattice row the channels
# increase left to right. From the overview (--view overview), at most 1 of a 3x2 lattice does.
def lattice_share(extra, name, nx, ny):
    hits = []
    for j in range(ny):
        for i in range(nx):
            px = (int((i + 0.5) / nx * 640), int((j + 0.5) / ny * 360))
            line = run([netlens, "render", model, "--input", photo, "--size", "640x360", "--open", T] + extra +
                       ["--out", os.path.join(out, name + ".png"), "--pick", "%d,%d" % px]).strip().splitlines()[-1]
            p = json.loads(line)
            if p and p.get("tensor") == T:
                k, y, x = p["index"]
                want = float(ref[0, k, y, x])
                assert abs(p["value"] - want) <= 1e-6 * max(abs(want), 1e-6) + 1e-9, (px, p, want)
                hits.append((j, i, k))
    return hits


face = lattice_share([], "open_face", 6, 4)
share = len(face) / 24
print("face-on: %d of 24 lattice picks on the opened layer (%.0f %%): %s" % (len(face), 100 * share, face))
assert share >= 0.40, face
for j in range(4):
    row = [k for (jj, i, k) in sorted(face) if jj == j]
    assert row == sorted(row) and len(set(row)) == len(row), ("channels along lattice row", j, row)
over = lattice_share(["--view", "overview"], "open_overview", 3, 2)
print("overview: %d of 6 lattice picks on the opened layer" % len(over))
assert len(over) <= 1, over

plain, closed = os.path.join(out, "plain.png"), os.path.join(out, "closed.png")
run(base + ["--out", plain])
run(base + ["--open", T, "--open-t", "0", "--out", closed])
assert open(plain, "rb").read() == open(closed, "rb").read(), "--open-t 0 differs from the plain render"
# Bad input: one clear error, non-zero exit.
r = subprocess.run(base + ["--open", "no_such_tensor", "--out", os.path.join(out, "bad.png")], capture_output=True, text=True)
assert r.returncode != 0 and "--open no_such_tensor" in r.stderr, r.stderr
print("open layer: picks match the dump, reading order holds, closed = plain")
