#!/usr/bin/env python3
"""The window's progressive start (issue 13) under Xvfb, lavapipe, CPU backend, from viewer scripts.

1. ResNet-50 on a real photo: the first frame (script `wait-nodes 0`, taken before the run starts)
   shows the structure with no layer filled: colourful (colour-map) pixels in the network's area
   under 15% of the complete frame's (labels only); a frame once 40 nodes have run has at least as
   many; the frame after the run is complete. The summary line reports updates drawn while the model
   ran with some but not all layers filled, and the run's end. The draw scale (the 3D scene drawn at
   a reduced size while the run is in flight and frames miss 33 ms) is reported, within [0.5, 1],
   and is 1 on every frame after the run (the screenshots are full-size frames in any case). The
   run's thread runs 10 nice steps below the window (NETLENS_RUN_NICE's default), frames paced to
   at most 40 a second (NETLENS_RUN_MAX_FPS's default), as the summary reports.
2. VGG-16: Esc once 3 nodes have run cancels the run: one line 'cancelled: run cancelled before node
   K of N' with K < N, the view keeps the layers computed; the window still answers the script
   afterwards (a key, two screenshots, close) and exits 0. With NETLENS_FULL_RES=1 no frame is drawn
   at a reduced scale; with NETLENS_RUN_NICE=0 and NETLENS_RUN_MAX_FPS=0 the run keeps the window's
   priority and frames are not paced. NETLENS_RUN_NICE=20 is refused in one line (exit 2).
Usage: test_view_progressive.py NETLENS MODELS_DIR WORK_DIR
"""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

NETLENS, MODELS, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
PHOTO = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"


def colourful(path):
    """Colour-map pixels in the central region (no side panels, title, legend or progress bar)."""
    a = np.asarray(Image.open(path).convert("RGB")).astype(int)
    h, w, _ = a.shape
    c = a[int(0.1 * h): int(0.7 * h), int(0.26 * w): int(0.74 * w)]
    return int(((c.max(-1) - c.min(-1)) > 60).sum())


def view(model, script_text, name, extra=(), env=None):
    script = os.path.join(WORK, name + ".txt")
    with open(script, "w") as f:
        f.write(script_text)
    p = subprocess.run(["xvfb-run", "-a", NETLENS, "view", model, "--input", PHOTO, "--size", "960x540",
                        "--collapse", "none", "--script", script, *extra], capture_output=True, text=True, timeout=500,
                       env=None if env is None else {**os.environ, **env})
    err = p.stderr.replace("\r", "\n")
    lines = [l for l in err.splitlines() if l.startswith("netlens view:")]
    print("\n".join(lines))
    assert p.returncode == 0, err[-3000:]
    return lines


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    # 1. Structure first, then filled.
    model = os.path.join(MODELS, "resnet50.onnx")
    assert os.path.exists(model), "resnet50.onnx missing: scripts/export-torchvision.sh"
    shots = [os.path.join(WORK, f"r{i}.png") for i in range(3)]
    lines = view(model, f"wait-nodes 0\nscreenshot {shots[0]}\nwait-nodes 40\nscreenshot {shots[1]}\n"
                        f"wait-input\nframes 3\nscreenshot {shots[2]}\nkey o\nframes 2\nclose\n", "resnet50")
    assert any("structure on screen after" in l for l in lines), lines
    assert any(l.startswith("netlens view: model ran in") for l in lines), lines
    summary = [l for l in lines if "progressive start:" in l]
    assert len(summary) == 1, lines
    fills = [tuple(map(int, m)) for m in re.findall(r"(\d+)/(\d+)", summary[0].split("layers filled")[1])]
    assert fills and fills[-1][0] == fills[-1][1], summary
    assert any(0 < a < b for a, b in fills), f"no update with a partly filled network: {summary}"
    m = re.search(r"draw scale while it ran: median ([\d.]+), min ([\d.]+), (\d+) of (\d+) frames reduced; "
                  r"after it: min ([\d.]+)", summary[0])
    assert m, summary
    med, lo, reduced, frames, after = float(m[1]), float(m[2]), int(m[3]), int(m[4]), float(m[5])
    assert 0.5 <= lo <= med <= 1.0 and reduced <= frames, summary
    assert (reduced > 0) == (lo < 1.0), summary
    assert after == 1.0, summary
    base = os.nice(0)  # netlens inherits this process's nice value
    assert f"the run at nice {min(19, base + 10)}, frames at most 40 a second" in summary[0], summary
    counts = [colourful(s) for s in shots]
    print("colourful pixels (structure, 40 nodes, complete):", counts)
    assert counts[2] > 1000, counts
    assert counts[0] < 0.15 * counts[2], counts
    assert counts[1] >= counts[0], counts

    # 2. Esc cancels the run; the window keeps answering.
    vgg = os.path.join(MODELS, "vgg16.onnx")
    assert os.path.exists(vgg), "vgg16.onnx missing: scripts/export-torchvision.sh"
    c = [os.path.join(WORK, f"c{i}.png") for i in range(2)]
    lines = view(vgg, f"wait-nodes 3\nkey esc\nwait-input\nframes 2\nscreenshot {c[0]}\nkey o\nframes 3\n"
                      f"screenshot {c[1]}\nframes 2\nclose\n", "vgg16",
                 env={"NETLENS_FULL_RES": "1", "NETLENS_RUN_NICE": "0", "NETLENS_RUN_MAX_FPS": "0"})
    cancelled = [l for l in lines if "cancelled: run cancelled before node" in l]
    assert len(cancelled) == 1, lines
    k, n = map(int, re.search(r"before node (\d+) of (\d+)", cancelled[0]).groups())
    assert 3 <= k < n, cancelled
    m = re.search(r"showing the (\d+) of (\d+) layers computed \((\d+) of (\d+) nodes run\)", cancelled[0])
    assert m and 0 < int(m.group(1)) < int(m.group(2)) and int(m.group(3)) < int(m.group(4)), cancelled
    assert not any(l.startswith("netlens view: model ran in") for l in lines), lines
    summary = [l for l in lines if "progressive start:" in l]
    assert len(summary) == 1 and re.search(r" 0 of \d+ frames reduced \(NETLENS_FULL_RES\)", summary[0]), summary
    assert f"the run at nice {os.nice(0)}, frames not paced" in summary[0], summary
    for s in c:
        assert os.path.getsize(s) > 0, s
    print("cancelled at node %d of %d; screenshots after the cancel:" % (k, n), [colourful(s) for s in c])
    # A nice value out of range: one line, exit 2 (a usage error), no window run.
    script = os.path.join(WORK, "bad.txt")
    with open(script, "w") as f:
        f.write("close\n")
    p = subprocess.run(["xvfb-run", "-a", NETLENS, "view", vgg, "--input", PHOTO, "--script", script], capture_output=True,
                       text=True, timeout=300, env={**os.environ, "NETLENS_RUN_NICE": "20"})
    errs = [l for l in p.stderr.splitlines() if l.startswith("netlens view: error")]
    assert p.returncode == 2 and errs == ["netlens view: error: NETLENS_RUN_NICE='20': expected an integer from 0 to 19"], \
        (p.returncode, p.stderr[-2000:])
    print("OK")


if __name__ == "__main__":
    main()
