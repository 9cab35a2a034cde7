#!/usr/bin/python3
"""Pillow reference resizes for tests/unit/test_resample.cpp.

    resample_oracle.py OUTDIR

Writes, for every case, OUTDIR/<name>_src.npy (uint8, H x W x C: a crop or resize of a real photo
from scikit-image's samples) and OUTDIR/<name>_ref.npy (float32, OH x OW x C: Pillow's
Image.resize((OW, OH), Image.BILINEAR) of each channel as a mode "F" image), and OUTDIR/cases.txt
with one line "name C W H OW OH" per case. The C++ side resizes the same uint8 pixels and compares.
Also chelsea_file_ref.npy (chelsea.png to 224x224) and camera_file_ref.npy (camera.png, grey, to
32x32), for load_image on the files themselves, and JPEGs (X.jpg) with Pillow's decoding of each
(X.jpg.npy, RGB; see main for the kinds), plus a truncated one (chelsea_cut.jpg).
"""
import os
import sys

import numpy as np
from PIL import Image

DATA = "/usr/lib/python3/dist-packages/skimage/data"


def photo(name, mode):
    return np.asarray(Image.open(os.path.join(DATA, name)).convert(mode))


def source(img, w, h, k):
    """A w x h uint8 source from `img`: a crop when it fits, else a bicubic resize (real content)."""
    ih, iw = img.shape[:2]
    if w <= iw and h <= ih:
        x0 = (k * 37) % (iw - w + 1)
        y0 = (k * 23) % (ih - h + 1)
        return np.ascontiguousarray(img[y0:y0 + h, x0:x0 + w])
    mode = "L" if img.ndim == 2 else "RGB"
    return np.asarray(Image.fromarray(img, mode).resize((w, h), Image.BICUBIC))


def pillow_bilinear(src, ow, oh):
    chans = src[:, :, None] if src.ndim == 2 else src
    out = [np.asarray(Image.fromarray(chans[:, :, c].astype(np.float32), "F").resize((ow, oh), Image.BILINEAR))
           for c in range(chans.shape[2])]
    return np.stack(out, axis=2).astype(np.float32)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rgb = [photo(n, "RGB") for n in ("chelsea.png", "astronaut.png", "coffee.png", "motorcycle_left.png")]
    grey = [photo(n, "L") for n in ("camera.png", "moon.png")]

    # Source (W, H): 1 pixel, tiny, odd, prime, the photos' own sizes (chelsea is 451x300), up to 1200.
    sizes = [(1, 1), (1, 7), (7, 1), (2, 3), (7, 7), (13, 31), (31, 13), (64, 64), (100, 37), (224, 224),
             (255, 97), (300, 451), (451, 300), (512, 512), (600, 400), (640, 480), (799, 601), (1024, 33),
             (1200, 1200), (1200, 7), (3, 1200), (1111, 877)]
    targets = [(224, 224), (32, 32), (320, 48), (48, 320), (1, 1)]
    big_targets = [(800, 608)]  # larger outputs for a few sources only (they are 5.8 MB each)
    cases = []
    k = 0
    for (w, h) in sizes:
        for grey_src in (False, True):
            imgs = grey if grey_src else rgb
            src = source(imgs[k % len(imgs)], w, h, k)
            tg = targets + (big_targets if (w, h) in ((451, 300), (7, 7), (1200, 1200)) or w == 1 else [])
            for (ow, oh) in tg:
                cases.append((f"c{k}", src, ow, oh))
                k += 1
    # Identity sizes and one axis only; enormous ratios (60000 -> 3 wide, 2 -> 224 high).
    chelsea = rgb[0]
    cases.append(("identity", chelsea, 451, 300))
    cases.append(("same_w", chelsea, 451, 224))
    cases.append(("same_h", chelsea, 224, 300))
    wide = np.ascontiguousarray(np.tile(chelsea[100:102], (1, 134, 1))[:, :60000])
    cases.append(("wide_to_3", wide, 3, 1))
    cases.append(("wide_to_224", wide, 224, 224))
    tall = np.ascontiguousarray(np.tile(grey[0][:, 200:201], (100, 1)))  # 51200 x 1
    cases.append(("tall_to_32", tall, 32, 32))

    # Whole files, for load_image (stb decodes these PNGs losslessly, as Pillow does).
    np.save(os.path.join(out, "chelsea_file_ref.npy"), pillow_bilinear(chelsea, 224, 224))
    np.save(os.path.join(out, "camera_file_ref.npy"), pillow_bilinear(grey[0], 32, 32))

    # JPEGs as cameras and Pillow write them (baseline 4:2:0, progressive with Huffman tables
    # between scans, 4:4:4, an odd-sized crop, grey, Photoshop-style inverted CMYK), with Pillow's
    # (libjpeg's) decoding of each to RGB (X.jpg.npy) and, for one colour file, libjpeg's own
    # luma output (X.jpg.L.npy: Pillow's draft("L") asks libjpeg for grayscale), for decode_image.
    odd = np.ascontiguousarray(chelsea[17:234, 40:373])  # 333 x 217: partial MCUs on both axes
    for name, img, kw in (("chelsea_base.jpg", chelsea, {"quality": 90}),
                          ("chelsea_progressive.jpg", chelsea, {"quality": 90, "progressive": True}),
                          ("chelsea_444.jpg", chelsea, {"quality": 95, "subsampling": 0}),
                          ("chelsea_odd.jpg", odd, {"quality": 80}),
                          ("camera_grey.jpg", grey[0], {"quality": 85}),
                          ("chelsea_cmyk.jpg", Image.fromarray(chelsea).convert("CMYK"), {"quality": 90})):
        path = os.path.join(out, name)
        (img if isinstance(img, Image.Image) else Image.fromarray(img)).save(path, "JPEG", **kw)
        np.save(path + ".npy", np.asarray(Image.open(path).convert("RGB")))
    luma = Image.open(os.path.join(out, "chelsea_base.jpg"))
    luma.draft("L", luma.size)
    assert luma.mode == "L"
    np.save(os.path.join(out, "chelsea_base.jpg.L.npy"), np.asarray(luma))
    # A download cut short: the first 60 % of a baseline JPEG; Pillow refuses it ("image file is
    # truncated"), so must decode_image.
    with open(os.path.join(out, "chelsea_base.jpg"), "rb") as f:
        whole = f.read()
    with open(os.path.join(out, "chelsea_cut.jpg"), "wb") as f:
        f.write(whole[:len(whole) * 6 // 10])

    with open(os.path.join(out, "cases.txt"), "w") as f:
        for (name, src, ow, oh) in cases:
            c = 1 if src.ndim == 2 else src.shape[2]
            np.save(os.path.join(out, name + "_src.npy"), src.reshape(src.shape[0], src.shape[1], c))
            np.save(os.path.join(out, name + "_ref.npy"), pillow_bilinear(src, ow, oh))
            f.write(f"{name} {c} {src.shape[1]} {src.shape[0]} {ow} {oh}\n")


if __name__ == "__main__":
    main()
