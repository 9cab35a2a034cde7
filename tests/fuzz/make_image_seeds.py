#!/usr/bin/python3
"""Seed inputs for tests/fuzz/fuzz_image (scripts/run-fuzz.sh fuzz_image): small image files made
from scikit-image's sample photos with Pillow, one per decoder path stb_image takes for PNG, JPEG
and BMP. Small (tens of pixels a side) so every mutation decodes fast.

    make_image_seeds.py OUTDIR      prints how many files it wrote
"""
import io
import os
import sys

import numpy as np
from PIL import Image

DATA = "/usr/lib/python3/dist-packages/skimage/data"


def main():
    out = sys.argv[1]
    chelsea = Image.open(os.path.join(DATA, "chelsea.png")).convert("RGB").resize((30, 20), Image.BILINEAR)
    camera = Image.open(os.path.join(DATA, "camera.png")).convert("L").resize((16, 16), Image.BILINEAR)
    seeds = {
        "rgb.png": (chelsea, "PNG", {}),
        "grey.png": (camera, "PNG", {}),
        "palette.png": (chelsea.convert("P", palette=Image.ADAPTIVE, colors=16), "PNG", {}),
        "rgba.png": (chelsea.convert("RGBA"), "PNG", {}),
        "grey_alpha.png": (camera.convert("LA"), "PNG", {}),
        "deep16.png": (Image.fromarray((np.asarray(camera, np.uint16) * 257)), "PNG", {}),
        "base.jpg": (chelsea, "JPEG", {"quality": 80}),
        "progressive.jpg": (chelsea, "JPEG", {"quality": 80, "progressive": True}),
        "sub444.jpg": (chelsea, "JPEG", {"quality": 90, "subsampling": 0}),
        "grey.jpg": (camera, "JPEG", {"quality": 80}),
        "rgb.bmp": (chelsea, "BMP", {}),
        "palette.bmp": (camera.convert("P"), "BMP", {}),
    }
    for name, (img, fmt, kw) in seeds.items():
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        with open(os.path.join(out, name), "wb") as f:
            f.write(buf.getvalue())
    print(len(seeds))


if __name__ == "__main__":
    main()
