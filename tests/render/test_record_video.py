#!/usr/bin/python3
"""`netlens record` with a video input (issue 16: the activations change with the input), on
lavapipe; run by CTest as render_record_video. A missing model or tool fails, never skips.

A 3 s H.264 video at 2 fps is made with the ffmpeg CLI from three real photos (skimage's chelsea,
coffee, astronaut, each scaled to 320x240 and shown for 1 s = 2 video frames). ResNet-50 is recorded
from it over a held camera (a one-keyframe tour of 3 s, the overview) at 4 fps into an MP4: the input
at time t is video frame floor(2 t), so photo k shows over t in [k, k+1).
  1. The MP4, decoded by the ffmpeg CLI, has 13 frames (3 s at 4 fps, the end included) at 480x270.
  2. Frames of one photo match each other (luma PSNR >= 40 dB: only the codec differs) and frames of
     different photos differ beyond the match tolerance of 3. (luma PSNR < 35 dB between the last
     frame of photo k and the first of k+1: the activations changed; measured ~29 dB).
  3. Decoded frame 4k+2 (t = k + 0.5) matches `netlens render --input` of video frame 2k as the ffmpeg
     CLI decodes it, with the same camera, within codec tolerance: luma PSNR >= 35 dB and mean
     |diff| <= 3/255 (the tolerance app.record states for its MP4 frames).
usage: test_record_video.py NETLENS MODELS_DIR WORKDIR
"""
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

NETLENS, MODELS, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
DATA = "/usr/lib/python3/dist-packages/skimage/data"
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png"]
MODEL = os.path.join(MODELS, "resnet50.onnx")
W, H, FPS = 480, 270, 4
failures = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        failures.append(msg)


def run(args):
    p = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        print(p.stderr[-3000:])
        raise SystemExit("FAIL: " + " ".join(args) + f" exited {p.returncode}")
    return p


def png(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


LUMA = np.array([0.2126, 0.7152, 0.0722])


def luma_psnr(a, b):
    mse = float(np.mean((a @ LUMA - b @ LUMA) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(255 ** 2 / mse)


for tool in ("ffmpeg", "ffprobe"):
    if not shutil.which(tool):
        raise SystemExit(f"FAIL: {tool} is not installed (scripts/setup.sh installs ffmpeg)")
for f in [MODEL] + [os.path.join(DATA, p) for p in PHOTOS]:
    if not os.path.exists(f):
        raise SystemExit(f"FAIL: missing {f} (scripts/fetch-models.sh)")
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
w = lambda *p: os.path.join(WORK, *p)

# The input video: each photo for 2 frames at 2 fps (3 s), H.264 through the ffmpeg CLI.
os.makedirs(w("src"))
for k, name in enumerate(PHOTOS):
    im = Image.open(os.path.join(DATA, name)).convert("RGB").resize((320, 240), Image.BILINEAR)
    for r in range(2):
        im.save(w("src", "%03d.png" % (2 * k + r)))
video = w("photos.mp4")
run(["ffmpeg", "-v", "error", "-y", "-framerate", "2", "-i", w("src", "%03d.png"), "-c:v", "libx264", "-crf", "12",
     "-pix_fmt", "yuv420p", video])
os.makedirs(w("vin"))
run(["ffmpeg", "-v", "error", "-i", video, w("vin", "%03d.png")])  # video frames as the ffmpeg CLI decodes them
vin = sorted(os.listdir(w("vin")))
check(len(vin) == 6, f"the input video has 6 frames ({len(vin)})")

# A held camera: the overview as a one-keyframe tour of 3 s.
run([NETLENS, "render", MODEL, "--input", w("vin", vin[0]), "--size", f"{W}x{H}", "--view", "overview",
     "--out", w("o.png"), "--save-camera", w("cam.json")])
cam = json.load(open(w("cam.json")))
yaw, pitch, dist, tgt = math.radians(cam["yaw_deg"]), math.radians(cam["pitch_deg"]), cam["distance"], cam["target"]
dirv = (math.cos(pitch) * math.cos(yaw), math.sin(pitch), math.cos(pitch) * math.sin(yaw))
eye = [tgt[0] - dist * dirv[0], tgt[1] + dist * dirv[1], tgt[2] - dist * dirv[2]]
json.dump({"netlens_tour": 1, "keyframes": [{"eye": eye, "target": tgt, "fov": cam["fov_y_deg"], "hold": 3.0, "caption": ""}]},
          open(w("held.json"), "w"))

out = w("rec.mp4")
p = run([NETLENS, "record", MODEL, "--input", video, "--tour", w("held.json"), "--size", f"{W}x{H}", "--fps", str(FPS),
         "--out", out, "--title", "live"])
print("    ", [l for l in p.stderr.splitlines() if "frames/s" in l])
raw = subprocess.run(["ffmpeg", "-v", "error", "-i", out, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                     capture_output=True, check=True).stdout
dec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, H, W, 3).astype(np.float64)
check(dec.shape[0] == 13, f"3 s at 4 fps: 13 decoded frames at {W}x{H} ({dec.shape[0]})")

# 2. same photo ~ same frame; a new photo changes it
for k in range(3):
    group = range(4 * k, 4 * k + 4)
    worst = min(luma_psnr(dec[4 * k], dec[i]) for i in group)
    check(worst >= 40.0, f"photo {k}: frames {list(group)} agree (luma PSNR min {worst:.1f} dB >= 40)")
for k in range(2):
    ps = luma_psnr(dec[4 * k + 3], dec[4 * k + 4])
    check(ps < 35.0, f"photo {k} -> {k + 1}: frames {4 * k + 3} and {4 * k + 4} differ (luma PSNR {ps:.1f} dB < 35)")

# 3. each photo's frame == the offscreen render of that decoded video frame
for k in range(3):
    ref = w(f"ref{k}.png")
    run([NETLENS, "render", MODEL, "--input", w("vin", vin[2 * k]), "--size", f"{W}x{H}", "--camera", w("cam.json"),
         "--title", "live", "--out", ref])
    r, g = png(ref), dec[4 * k + 2]
    ps, mad = luma_psnr(r, g), float(np.mean(np.abs(r @ LUMA - g @ LUMA)))
    check(ps >= 35.0 and mad <= 3.0, f"frame {4 * k + 2} vs render --input video frame {2 * k}: luma PSNR {ps:.1f} dB "
          f"(>= 35), mean |diff| {mad:.2f}/255 (<= 3)")
if failures:
    raise SystemExit(f"FAIL: {len(failures)} check(s)")
print("record video: ok")
