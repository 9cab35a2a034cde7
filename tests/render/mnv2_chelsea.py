"""The set-up the render tests on MobileNetV2 + chelsea.png share: argv (NETLENS MODELS_DIR OUT_DIR),
the output folder, the model and the photo (a missing one fails: no skip), and running a command."""
import os
import subprocess
import sys

PHOTO = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"


def setup():
    """(netlens, out, model, photo) from sys.argv; exits with a message when a file is missing."""
    netlens, models, out = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(out, exist_ok=True)
    model = os.path.join(models, "mobilenet_v2.onnx")
    for f in (model, PHOTO):
        if not os.path.exists(f):
            sys.exit(f"missing {f}")
    return netlens, out, model, PHOTO


def run(cmd):
    """Runs cmd (a list); exits naming it when it fails; returns (stdout, stderr)."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r.stdout, r.stderr
