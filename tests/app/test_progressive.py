#!/usr/bin/env python3
"""render --progressive DIR end to end (lavapipe, CPU backend).

1. ResNet-50 on a real photo: DIR/progress.json lists frames whose node and filled-layer counts
   rise; frame 0 has the structure and no filled layer, intermediate frames some; the pixels agree:
   colourful (colour-map) pixels in the network's area are few in frame 0 (labels only: under 15%
   of the complete frame's) and never fewer in a later frame (tolerance 1% of the complete frame's,
   for labels drawn over cells); the last frame equals `netlens render`'s PNG for the same flags
   pixel for pixel (tolerance 0).
2. SIGINT during VGG-16's progressive run (sent once frame 1 is on disk): exit status 130, one
   'interrupted' line, progress.json ends before the last node, no complete frame.
3. Bad flag combinations: one line, non-zero exit.
Usage: test_progressive.py NETLENS MODELS_DIR WORK_DIR
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image

NETLENS, MODELS, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
PHOTO = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"
SIZE = "960x540"


def colourful(path):
    a = np.asarray(Image.open(path).convert("RGB")).astype(int)
    h, w, _ = a.shape
    m = np.ones((h, w), bool)
    m[int(h * 0.6):, : int(w * 0.3)] = False  # the legend (its colour bar is in every frame)
    m[: int(h * 0.1), :] = False               # title and subtitle
    return int((((a.max(-1) - a.min(-1)) > 60) & m).sum())


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    model = os.path.join(MODELS, "resnet50.onnx")
    assert os.path.exists(model), "missing " + model
    prog = os.path.join(WORK, "resnet50")
    r = subprocess.run([NETLENS, "render", model, "--input", PHOTO, "--size", SIZE, "--progressive", prog,
                        "--progressive-frames", "6"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "structure frame at" in r.stderr, r.stderr
    frames = json.load(open(os.path.join(prog, "progress.json")))["frames"]
    assert len(frames) == 7, frames
    total_nodes, total_layers = frames[0]["nodes_total"], frames[0]["layers_total"]
    assert frames[0]["nodes_done"] == 0 and frames[0]["layers_filled"] == 0, frames[0]
    assert frames[-1]["nodes_done"] == total_nodes and frames[-1]["layers_filled"] == total_layers, frames[-1]
    for a, b in zip(frames, frames[1:]):
        assert b["nodes_done"] > a["nodes_done"] and b["layers_filled"] >= a["layers_filled"], (a, b)
    assert any(0 < f["layers_filled"] < total_layers for f in frames), frames
    counts = [colourful(os.path.join(prog, f["file"])) for f in frames]
    print("colourful pixels per frame:", counts)
    assert counts[0] < 0.15 * counts[-1], counts
    for a, b in zip(counts, counts[1:]):
        assert b >= a - 0.01 * counts[-1], counts
    assert counts[1] > counts[0] and counts[-1] > counts[1], counts

    normal = os.path.join(WORK, "normal.png")
    r = subprocess.run([NETLENS, "render", model, "--input", PHOTO, "--size", SIZE, "--out", normal],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    last = np.asarray(Image.open(os.path.join(prog, frames[-1]["file"])))
    ref = np.asarray(Image.open(normal))
    assert last.shape == ref.shape and np.array_equal(last, ref), \
        "complete progressive frame differs from render's in %d pixels" % int((last != ref).any(-1).sum())

    # 2. SIGINT mid-run.
    vgg = os.path.join(MODELS, "vgg16.onnx")
    assert os.path.exists(vgg), "missing " + vgg
    cdir = os.path.join(WORK, "cancel")
    p = subprocess.Popen([NETLENS, "render", vgg, "--input", PHOTO, "--size", SIZE, "--progressive", cdir,
                          "--progressive-frames", "16"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300  # a hang guard, not a timing assertion
    while not os.path.exists(os.path.join(cdir, "000002.png")):
        assert p.poll() is None, "render ended before its second frame: " + p.communicate()[1]
        assert time.time() < deadline, "no second frame within 300 s"
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 130, (p.returncode, err)
    lines = [l for l in err.splitlines() if "interrupted" in l]
    assert len(lines) == 1 and "run cancelled before node" in lines[0], err
    cframes = json.load(open(os.path.join(cdir, "progress.json")))["frames"]
    assert cframes[-1]["nodes_done"] < cframes[-1]["nodes_total"], cframes
    assert len(cframes) < 17 and not os.path.exists(os.path.join(cdir, "%06d.png" % 16)), cframes

    # 3. Flags that need a finished run.
    for extra in (["--values", "gradient"], ["--ui"], ["--progressive-frames", "0"]):
        r = subprocess.run([NETLENS, "render", model, "--progressive", os.path.join(WORK, "bad")] + extra,
                           capture_output=True, text=True, timeout=600)
        errs = [l for l in r.stderr.splitlines() if "error" in l]
        assert r.returncode != 0 and len(errs) == 1 and "progressive" in errs[0], (extra, r.returncode, r.stderr)
    r = subprocess.run([NETLENS, "render", model, "--progressive-frames", "3"], capture_output=True, text=True)
    assert r.returncode != 0 and "--progressive-frames needs --progressive" in r.stderr, r.stderr
    print("progressive: ok")


if __name__ == "__main__":
    main()
