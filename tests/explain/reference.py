#!/usr/bin/python3
"""Direct NumPy computations of netlens's attributions, from what `netlens infer --dump DIR --all
--gradients` writes (DIR/<tensor>.npy, DIR/gradients/<tensor>.npy, both with index.json), compared with
the DIR/heatmap.npy that `netlens explain` wrote for the same model, input and target.

    reference.py saliency   DUMP HEATMAP
    reference.py gradxinput DUMP HEATMAP
    reference.py cam        DUMP HEATMAP LAYER [plus]      Grad-CAM (or Grad-CAM++ with "plus")
    reference.py channels   DUMP SUMMARY.json LAYER         channel importance: mean_ij(G * A) ranked
    reference.py ig NETLENS MODEL DUMP HEATMAP STEPS TARGET [model flags...]
        integrated gradients, baseline zeros, Riemann midpoint: this script makes the STEPS points
        (k + 1/2)/STEPS * x of the dumped input, has `netlens infer --gradients` differentiate each,
        and sums (x - 0) * mean gradient over channels.

Prints the largest difference relative to the largest |reference| value and exits 1 when it is over
the tolerance (1e-4, float32 gradients summed in different orders), 0 otherwise.
The formulas here are written from the papers, independently of src/explain:
- saliency (Simonyan et al. 2014): max over channels of |dS/dx|
- gradient x input: sum over channels of x * dS/dx
- Grad-CAM (Selvaraju et al. 2017): relu(sum_k mean_ij(dS/dA_k) A_k), bilinear to the input size with
  half-pixel centres (PyTorch's F.interpolate(align_corners=False))
- Grad-CAM++ (Chattopadhyay et al. 2018), the closed form for an exponential output used by the
  common implementations: alpha = G^2 / (2 G^2 + sum_ij(A) G^3 + 1e-6), 0 where G == 0;
  w_k = sum_ij relu(G) alpha
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

TOL = 1e-4


def load(dump, name, grad=False):
    d = os.path.join(dump, "gradients") if grad else dump
    with open(os.path.join(d, "index.json")) as f:
        idx = json.load(f)
    if name not in idx:
        sys.exit(f"reference.py: no tensor '{name}' in {d}/index.json")
    return np.load(os.path.join(d, idx[name]["file"])).astype(np.float64)


def input_name(dump):
    with open(os.path.join(dump, "index.json")) as f:
        idx = json.load(f)
    names = [n for n, e in idx.items() if e["producer"] is None and len(e["shape"]) == 4]
    if not names:
        sys.exit("reference.py: no rank-4 graph input in the dump")
    return names[0]


def upsample(cam, H, W):
    h, w = cam.shape

    def axis(n_in, n_out):
        c = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        c = np.maximum(c, 0)
        i0 = np.minimum(np.floor(c).astype(int), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, c - i0

    y0, y1, fy = axis(h, H)
    x0, x1, fx = axis(w, W)
    top = cam[y0][:, x0] * (1 - fx) + cam[y0][:, x1] * fx
    bot = cam[y1][:, x0] * (1 - fx) + cam[y1][:, x1] * fx
    return top * (1 - fy)[:, None] + bot * fy[:, None]


def compare(ref, got, what):
    if ref.shape != got.shape:
        print(f"{what}: shape {got.shape}, reference {ref.shape}")
        return 1
    if not np.abs(ref).max() > 0:
        print(f"{what}: the reference is zero everywhere: nothing is compared (choose another layer or target)")
        return 1
    scale = np.abs(ref).max()
    err = np.abs(ref - got).max() / scale
    print(f"{what}: max |difference| / max |reference| = {err:.3g} (max |reference| {scale:.6g})")
    return 0 if err <= TOL else 1


def main(argv):
    mode = argv[1]
    if mode in ("saliency", "gradxinput"):
        dump, heat = argv[2], np.load(argv[3]).astype(np.float64)
        x_name = input_name(dump)
        x = load(dump, x_name)[0]
        g = load(dump, x_name, grad=True)[0]
        ref = np.abs(g).max(axis=0) if mode == "saliency" else (x * g).sum(axis=0)
        return compare(ref, heat, mode)
    if mode == "cam":
        dump, heat, layer = argv[2], np.load(argv[3]).astype(np.float64), argv[4]
        kind = argv[5] if len(argv) > 5 else "gradcam"
        plus = kind == "plus"
        A = load(dump, layer)[0]
        G = load(dump, layer, grad=True)[0]
        if A.ndim != 3:
            sys.exit("reference.py: cam needs a [1, C, H, W] layer")
        if kind == "hires":  # HiResCAM: relu(sum_c G_c * A_c) per cell, no mean over the grid
            cam = np.maximum((G * A).sum(axis=0), 0)
            return compare(upsample(cam, *heat.shape), heat, "hirescam")
        if plus:
            g2 = G * G
            g3 = g2 * G
            alpha = g2 / (2 * g2 + A.sum(axis=(1, 2))[:, None, None] * g3 + 1e-6)
            alpha = np.where(G != 0, alpha, 0)
            w = (np.maximum(G, 0) * alpha).sum(axis=(1, 2))
        else:
            w = G.mean(axis=(1, 2))
        cam = np.maximum((w[:, None, None] * A).sum(axis=0), 0)
        return compare(upsample(cam, *heat.shape), heat, "gradcam++" if plus else "gradcam")
    if mode == "channels":
        dump, summary, layer = argv[2], argv[3], argv[4]
        with open(summary) as f:
            got = json.load(f)["top_channels"]
        A = load(dump, layer)[0]
        G = load(dump, layer, grad=True)[0]
        imp = (G * A).mean(axis=(1, 2))
        order = np.argsort(-imp, kind="stable")[: len(got)]
        scale = np.abs(imp).max()
        bad = 0
        for k, e in enumerate(got):
            if e["channel"] != order[k] or abs(e["importance"] - imp[order[k]]) > TOL * scale:
                print(f"rank {k}: netlens channel {e['channel']} ({e['importance']:.6g}), "
                      f"NumPy channel {order[k]} ({imp[order[k]]:.6g})")
                bad = 1
        print(f"channels: top {len(got)} of {len(imp)} by mean(G * A) {'differ' if bad else 'agree'}")
        return bad
    if mode == "ig":
        netlens, model, dump, heat_path, steps, target = argv[2:8]
        flags = argv[8:]
        heat = np.load(heat_path).astype(np.float64)
        x_name = input_name(dump)
        x = np.load(os.path.join(dump, "input.npy")) if x_name == "input" else load(dump, x_name)
        x = x.astype(np.float32)
        m = int(steps)
        acc = np.zeros(x.shape, np.float64)
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(m):
                p = os.path.join(tmp, f"p{k}.npy")
                np.save(p, ((k + 0.5) / m * x).astype(np.float32))
                d = os.path.join(tmp, f"d{k}")
                subprocess.run([netlens, "infer", model, "--input", p, "--dump", d, "--gradients", "--target", target,
                                "--quiet"] + flags, check=True, stdout=subprocess.DEVNULL)
                acc += load(d, x_name, grad=True)
        ref = (x.astype(np.float64) * acc / m)[0].sum(axis=0)
        return compare(ref, heat, f"ig ({m} steps)")
    sys.exit(f"reference.py: unknown mode '{mode}'")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
