#!/usr/bin/python3
"""Tours in the window viewer, under Xvfb (run by CTest as app.view_tour; a missing model or tool fails).

1. A script presses the keys a presenter would: K adds the current view as a keyframe three times
   (overview, orbited, zoomed; C saves each camera as JSON too), T saves the tour (--tour-out), B
   blanks the screen (every pixel black), L shows the pointer highlight (only pixels around the
   cursor change), F2 shows the speaker notes. The tour file has 3 keyframes captioned "stop N".
2. `view --tour` plays it: PageDown flies to the next stop and waits there, PageUp returns at once;
   each screenshot equals `netlens render --camera` of the camera saved at that stop within 2 LSB on
   >= 99.9 % of pixels above the caption band (the flights end exactly on the stops).
3. `record --tour` replays the same file: the frame at stop 2's arrival time equals the same render.
usage: test_view_tour.py NETLENS MODELS_DIR WORKDIR
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

NETLENS, MODELS, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
MODEL = os.path.join(MODELS, "resnet50.onnx")
PHOTO = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"
W, H = 960, 540
BAND = int(H * 0.8)  # rows above the caption band
failures = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        failures.append(msg)


def run(args, xvfb=False):
    cmd = (["xvfb-run", "-a"] if xvfb else []) + [NETLENS] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=WORK)
    if p.returncode != 0:
        print(p.stderr)
        raise SystemExit("FAIL: " + " ".join(cmd) + f" exited {p.returncode}")
    return p


def img(name):
    return np.asarray(Image.open(os.path.join(WORK, name)).convert("RGB"), dtype=np.int16)


def close_to(a, b, what):
    d = np.abs(img(a) - img(b)).max(axis=2)[:BAND]
    frac = float(np.mean(d > 2))
    check(frac <= 0.001, f"{what}: {a} vs {b}: {frac * 100:.4f} % of pixels beyond 2 LSB (max {int(d.max())})")


for tool in ("xvfb-run",):
    if not shutil.which(tool):
        raise SystemExit(f"FAIL: {tool} is not installed (scripts/setup.sh installs xvfb)")
if not os.path.exists(MODEL):
    raise SystemExit(f"FAIL: missing {MODEL} (scripts/fetch-models.sh)")
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
common = [MODEL, "--input", PHOTO, "--size", f"{W}x{H}", "--title", "resnet50"]

# 1. keys: add keyframes, save, blank, pointer, notes
open(os.path.join(WORK, "a.txt"), "w").write("""key h
frames 3
key k
key c
drag 300 0
frames 2
key k
key c
scroll 4
frames 2
key k
key c
key t
key b
frames 1
screenshot blank.png
frames 1
key b
key l
cursor 300 200
frames 1
screenshot pointer.png
frames 1
key l
frames 1
screenshot nopointer.png
frames 1
key f2
frames 1
screenshot notes.png
frames 1
close
""")
p = run(["view"] + common + ["--script", "a.txt", "--tour-out", "tour.json"], xvfb=True)
tour = json.load(open(os.path.join(WORK, "tour.json")))
keys = tour["keyframes"]
check(len(keys) == 3 and [k["caption"] for k in keys] == ["stop 1", "stop 2", "stop 3"], f"3 keyframes 'stop N' saved ({len(keys)})")
check(len({tuple(k["eye"]) for k in keys}) == 3, "the keyframes have the three cameras")
check(int(img("blank.png").max()) == 0, "B: the frame is black")
d = np.abs(img("pointer.png") - img("nopointer.png")).max(axis=2)
ys, xs = np.nonzero(d > 10)
check(len(xs) > 50 and xs.min() >= 270 and xs.max() <= 330 and ys.min() >= 170 and ys.max() <= 230,
      f"L: the pointer highlight is around the cursor (300, 200) only ({len(xs)} px)")
d = np.abs(img("notes.png") - img("nopointer.png")).max(axis=2)
ys, xs = np.nonzero(d > 10)
check(len(xs) > 500 and xs.min() >= W // 2, f"F2: the notes overlay is drawn, in the right half ({len(xs)} px)")

# 2. playback: PageDown/PageUp land on the recorded stops
open(os.path.join(WORK, "b.txt"), "w").write("""key h
frames 2
key pagedown
frames 80
screenshot stop2.png
frames 1
key pagedown
frames 80
screenshot stop3.png
frames 1
key pageup
frames 2
screenshot back2.png
frames 1
close
""")
run(["view"] + common + ["--script", "b.txt", "--tour", "tour.json"], xvfb=True)
for k in (2, 3):
    run(["render"] + common + ["--camera", f"netlens-camera-{k}.json", "--out", f"ref{k}.png"])
close_to("stop2.png", "ref2.png", "PageDown flies to stop 2")
close_to("stop3.png", "ref3.png", "PageDown flies to stop 3")
close_to("back2.png", "ref2.png", "PageUp returns to stop 2")

# 3. record replays the tour: stop 2 is reached at hold_1 + duration_2 = 4 s, frame 20 at 5 fps
run(["record"] + common + ["--tour", "tour.json", "--fps", "5", "--max-frames", "21", "--frames-dir", "rec", "--quiet"])
close_to("rec/000020.png", "ref2.png", "record --tour at stop 2's arrival")

if failures:
    print(f"test_view_tour: {len(failures)} check(s) failed")
    sys.exit(1)
print("test_view_tour: all checks passed")
