#!/usr/bin/python3
"""`netlens record` end to end on lavapipe (run by CTest as app.record; a missing model or tool fails).

Checks, each against something record does not compute itself:
  1. determinism: the default tour of ResNet-50 on a real photo (chelsea.png) recorded twice (once to
     MP4 + PNGs, once to PNGs only) gives byte-identical frames;
  2. the MP4, read by the ffprobe/ffmpeg CLI: H.264 yuv420p at the requested size, frame count and
     rate; each decoded frame matches the PNG of the same time within the codec tolerance stated
     below (per frame: luma PSNR >= 35 dB and mean |diff| <= 3/255, 2x2-averaged RGB PSNR >= 35 dB);
  3. frame 0 (t = 0: the overview, caption faded out) equals `netlens render --view overview` of the
     same model, input, size and title within 2 LSB on all but 0.1 % of pixels (one frame driver);
  4. a folder input changes the activations with the input: a held camera shows input k at
     t in [k, k+1) s (3 images over a 3 s tour): frames within one second are identical, frames of
     different images differ, and frame 2.5 s equals `render --input image2` with the tour's camera;
  4b. a still rendered in 8 off-axis tiles (--tile 300) and stitched equals the one-piece still
     within 2 LSB on >= 99.9 % of pixels (identical on >= 98 %): the tiling maths, not the picture;
  5. bad input is one error line and a non-zero exit: a missing tour file, a tour with bad JSON,
     a bad --size, an odd --size for an MP4, an unwritable --out, a bad --still size or mix.
usage: test_record.py NETLENS MODELS_DIR WORKDIR
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
PHOTO = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png"]
MODEL = os.path.join(MODELS, "resnet50.onnx")
W, H, FPS, N = 480, 270, 10, 24
failures = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        failures.append(msg)


def run(args, expect_ok=True):
    p = subprocess.run([NETLENS] + args, capture_output=True, text=True, timeout=600)
    if expect_ok and p.returncode != 0:
        print(p.stderr)
        raise SystemExit("FAIL: netlens " + " ".join(args) + f" exited {p.returncode}")
    return p


def png(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def frames(d):
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".png"))


for tool in ("ffmpeg", "ffprobe"):
    if not shutil.which(tool):
        raise SystemExit(f"FAIL: {tool} is not installed (scripts/setup.sh installs ffmpeg)")
if not os.path.exists(MODEL):
    raise SystemExit(f"FAIL: missing {MODEL} (scripts/fetch-models.sh)")
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
mp4, a_dir, b_dir = os.path.join(WORK, "tour.mp4"), os.path.join(WORK, "a"), os.path.join(WORK, "b")
common = [MODEL, "--input", PHOTO, "--size", f"{W}x{H}", "--fps", str(FPS), "--max-frames", str(N), "--title", "resnet50"]

# 1. determinism
run(["record"] + common + ["--out", mp4, "--frames-dir", a_dir, "--save-tour", os.path.join(WORK, "tour.json")])
run(["record"] + common + ["--frames-dir", b_dir, "--quiet"])
fa, fb = frames(a_dir), frames(b_dir)
check(len(fa) == N and len(fb) == N, f"{N} PNGs per run ({len(fa)}, {len(fb)})")
same = all(np.array_equal(png(x), png(y)) for x, y in zip(fa, fb))
check(same, "two recordings of the tour give identical frames")
check(not np.array_equal(png(fa[0]), png(fa[-1])), "the camera moves (first and last frame differ)")

# 2. the MP4 through the FFmpeg CLI
probe = json.loads(subprocess.run(
    ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
     "stream=codec_name,pix_fmt,width,height,r_frame_rate,avg_frame_rate,nb_read_frames", "-of", "json", mp4],
    capture_output=True, text=True, check=True).stdout)["streams"][0]
check(probe["codec_name"] == "h264" and probe["pix_fmt"] == "yuv420p", f"H.264 yuv420p ({probe['codec_name']} {probe['pix_fmt']})")
check((probe["width"], probe["height"]) == (W, H), f"size {probe['width']}x{probe['height']} == {W}x{H}")
check(probe["r_frame_rate"] == f"{FPS}/1" and probe["avg_frame_rate"] == f"{FPS}/1", f"rate {probe['r_frame_rate']} == {FPS}/1")
check(int(probe["nb_read_frames"]) == N, f"decoded frame count {probe['nb_read_frames']} == {N}")
raw = subprocess.run(["ffmpeg", "-v", "error", "-i", mp4, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                     capture_output=True, check=True).stdout
dec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, H, W, 3).astype(np.int16)
check(dec.shape[0] == N, f"ffmpeg decodes {dec.shape[0]} frames")
# Tolerance: yuv420p keeps luma at full resolution and colour at half (2x2), so thin coloured lines
# and label text lose colour even losslessly (an x264 -crf 0 yuv420p round trip of these frames is
# ~28.6 dB in RGB). Compared: BT.709 luma at full resolution (PSNR >= 35 dB, mean |diff| <= 3/255) and
# RGB averaged over 2x2 blocks, what 4:2:0 keeps (PSNR >= 35 dB).
def psnr(a, b):
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(255 ** 2 / mse)


luma = np.array([0.2126, 0.7152, 0.0722])
half = lambda x: x.reshape(H // 2, 2, W // 2, 2, 3).mean(axis=(1, 3))
y_psnr, y_mad, c_psnr = [], [], []
for i in range(min(N, dec.shape[0])):
    ref, got = png(fa[i]).astype(np.float64), dec[i].astype(np.float64)
    y_psnr.append(psnr(ref @ luma, got @ luma))
    y_mad.append(float(np.mean(np.abs(ref @ luma - got @ luma))))
    c_psnr.append(psnr(half(ref), half(got)))
print(f"     MP4 vs PNG: luma PSNR min {min(y_psnr):.1f} dB (median {sorted(y_psnr)[len(y_psnr) // 2]:.1f}), "
      f"luma mean |diff| max {max(y_mad):.2f}/255, 2x2 RGB PSNR min {min(c_psnr):.1f} dB")
check(min(y_psnr) >= 35.0, f"every decoded frame's luma within PSNR >= 35 dB of its PNG (min {min(y_psnr):.1f})")
check(max(y_mad) <= 3.0, f"every decoded frame's luma within mean |diff| <= 3/255 (max {max(y_mad):.2f})")
check(min(c_psnr) >= 35.0, f"every decoded frame's 2x2 RGB means within PSNR >= 35 dB (min {min(c_psnr):.1f})")

# 3. frame 0 is the overview frame of `render`
ov = os.path.join(WORK, "overview.png")
run(["render", MODEL, "--input", PHOTO, "--size", f"{W}x{H}", "--title", "resnet50", "--view", "overview", "--out", ov])
d = np.abs(png(ov) - png(fa[0]))
frac = float(np.mean(d.max(axis=2) > 2))
print(f"     frame 0 vs render --view overview: {frac * 100:.3f} % of pixels beyond 2 LSB, max {int(d.max())}")
check(frac <= 0.001, "frame 0 equals render --view overview within 2 LSB on >= 99.9 % of pixels")

# 4. a folder input over a held camera
folder = os.path.join(WORK, "imgs")
os.makedirs(folder)
for k, name in enumerate(PHOTOS):  # sorted by file name: 0_, 1_, 2_
    Image.open(os.path.join(os.path.dirname(PHOTO), name)).convert("RGB").save(os.path.join(folder, f"{k}_{name}"))
cam_dir = os.path.join(WORK, "cam")
run(["render", MODEL, "--input", PHOTO, "--size", f"{W}x{H}", "--view", "overview", "--out", os.path.join(WORK, "o.png"),
     "--save-camera", os.path.join(WORK, "cam.json")])
cam = json.load(open(os.path.join(WORK, "cam.json")))
# The overview camera as a keyframe: eye from camera.hpp's stated convention (yaw 0: eye on -X, pitch > 0: above).
yaw, pitch, dist, tgt = math.radians(cam["yaw_deg"]), math.radians(cam["pitch_deg"]), cam["distance"], cam["target"]
dirv = (math.cos(pitch) * math.cos(yaw), math.sin(pitch), math.cos(pitch) * math.sin(yaw))
eye = [tgt[0] - dist * dirv[0], tgt[1] + dist * dirv[1], tgt[2] - dist * dirv[2]]
tour = {"netlens_tour": 1, "keyframes": [{"eye": eye, "target": tgt, "fov": cam["fov_y_deg"], "hold": 3.0, "caption": ""}]}
tour_path = os.path.join(WORK, "held.json")
json.dump(tour, open(tour_path, "w"))
live_dir = os.path.join(WORK, "live")
p = run(["record", MODEL, "--input", folder, "--tour", tour_path, "--size", f"{W}x{H}", "--fps", "4", "--frames-dir", live_dir,
         "--title", "live"])
fl = frames(live_dir)
check(len(fl) == 13, f"3 s at 4 fps: 13 frames ({len(fl)})")
f = [png(x) for x in fl]
check(np.array_equal(f[0], f[3]) and np.array_equal(f[4], f[7]) and np.array_equal(f[8], f[11]),
      "frames of the same input are identical")
check(not np.array_equal(f[3], f[4]) and not np.array_equal(f[7], f[8]), "a new input changes the frame")
ref2 = os.path.join(WORK, "img2.png")
run(["render", MODEL, "--input", os.path.join(folder, "2_" + PHOTOS[2]), "--size", f"{W}x{H}", "--camera",
     os.path.join(WORK, "cam.json"), "--title", "live", "--out", ref2])
d = np.abs(png(ref2) - f[10])
frac = float(np.mean(d.max(axis=2) > 2))
print(f"     t=2.5 s vs render --input image 2: {frac * 100:.3f} % of pixels beyond 2 LSB, max {int(d.max())}")
check(frac <= 0.001, "the frame at 2.5 s shows image 2's activations (render --input image 2, same camera)")

# 4b. tiled stills: 8 off-axis tiles of at most 300 px stitched == the one-piece still (2 LSB, 99.9 %)
for name, extra in (("one", []), ("tiled", ["--tile", "300"])):
    run(["record", MODEL, "--input", PHOTO, "--size", "1024x576", "--still", os.path.join(WORK, name + ".png")] + extra)
one, tiled = png(os.path.join(WORK, "one.png")), png(os.path.join(WORK, "tiled.png"))
check(one.shape == tiled.shape == (576, 1024, 3), f"still sizes {one.shape} {tiled.shape}")
d = np.abs(one - tiled).max(axis=2)
frac = float(np.mean(d > 2))
print(f"     tiled vs one-piece still: {float(np.mean(d > 0)) * 100:.3f} % of pixels differ, {frac * 100:.4f} % beyond 2 LSB")
check(frac <= 0.001, "a still in 8 tiles equals the one-piece still within 2 LSB on >= 99.9 % of pixels")
check(float(np.mean(d > 0)) < 0.02, "and is identical on >= 98 % of pixels")

# 5. bad input: one line, non-zero exit
bad_json = os.path.join(WORK, "bad.json")
open(bad_json, "w").write('{"netlens_tour": 1, "keyframes": [{"eye": [1, 2], "target": [0, 0, 0]}]}')
cases = [
    (["--tour", os.path.join(WORK, "nope.json"), "--out", mp4], "nope.json"),
    (["--tour", bad_json, "--out", mp4], "keyframe 1: \"eye\""),
    (["--size", "12x10000", "--out", mp4], "--size"),
    (["--size", "481x270", "--out", mp4], "even"),
    (["--out", "/nonexistent/dir/talk.mp4"], "/nonexistent/dir"),
    (["--out", "/proc/talk.mp4"], "/proc/talk.mp4"),
    (["--still", os.path.join(WORK, "s.png"), "--size", "40000x100"], "--size"),
    (["--still", os.path.join(WORK, "s.png"), "--out", mp4], "--still"),
]
for extra, want in cases:
    base = ["record", MODEL, "--input", PHOTO] + ([] if "--still" in extra else ["--max-frames", "2"])
    p = run(base + extra, expect_ok=False)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    err = [l for l in lines if "error" in l]
    check(p.returncode != 0 and len(err) == 1 and want in err[0] and "usage" not in p.stderr.split("error", 1)[0],
          f"{' '.join(extra)}: one error line naming '{want}' (rc {p.returncode}: {err})")

if failures:
    print(f"test_record: {len(failures)} check(s) failed")
    sys.exit(1)
print("test_record: all checks passed")
