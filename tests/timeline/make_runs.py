"""Real training runs for the timeline tests: a healthy small CNN and four deliberately broken runs,
trained with PyTorch on scikit-learn's bundled 8x8 digits (no download), one ONNX checkpoint per
epoch (epoch 0 = the initial weights). Seeded; 10-30 s on two busy cores.

    python3 make_runs.py OUT_DIR

OUT_DIR/
  data/train/<digit>/*.png, data/val/<digit>/*.png   the split (80/20, stratified, seed 0)
  tiny/train/<digit>/*.png, tiny/val -> the same val   the overfitting run's 30-image training set
  probe.npy (64 validation images, float32 [64,1,8,8]), probe_labels.npy (int64 [64])
  <run>/epoch_<k>.onnx, <run>/run.json                 healthy, vanishing, saturated, high_lr, overfit
  healthy_npy/graph.onnx, healthy_npy/epoch_<k>/*.npy  the healthy run as a graph + weight-only folders
Pixels are the digits' 0..16 values scaled to 0..255 and rounded (PNG bytes); the networks see
byte / 255, exactly what `netlens timeline --eval` and --input read back.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


class SmallCNN(nn.Module):
    """Conv 8 → ReLU → Conv 16 → ReLU → MaxPool → FC 32 → ReLU → FC 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 10)
        self.acts = {}

    def forward(self, x):
        a1 = F.relu(self.conv1(x))
        a2 = F.relu(self.conv2(a1))
        p = F.max_pool2d(a2, 2).flatten(1)
        a3 = F.relu(self.fc1(p))
        z = self.fc2(a3)
        self.acts = {"conv1": a1, "conv2": a2, "fc1": a3, "fc2": z}
        return z


class DeepSigmoid(nn.Module):
    """64 → 8 × (32, sigmoid) → 10. Weights N(0, 0.05²): the gradient shrinks ~10x per layer;
    N(0, 4²): most sigmoids sit at 0 or 1 (saturated)."""

    def __init__(self, depth=8, width=32, init_std=0.05):
        super().__init__()
        dims = [64] + [width] * depth
        self.hidden = nn.ModuleList([nn.Linear(dims[i], dims[i + 1]) for i in range(depth)])
        self.out = nn.Linear(width, 10)
        for m in list(self.hidden) + [self.out]:
            nn.init.normal_(m.weight, 0.0, init_std)
            nn.init.normal_(m.bias, 0.0, 0.01)  # not zeros: the exporter merges equal initializers
        self.acts = {}

    def forward(self, x):
        h = x.flatten(1)
        acts = {}
        for i, m in enumerate(self.hidden):
            h = torch.sigmoid(m(h))
            acts["hidden.%d" % i] = h
        z = self.out(h)
        acts["out"] = z
        self.acts = acts
        return z


def make_model(kind):
    if kind == "cnn":
        return SmallCNN()
    return DeepSigmoid(init_std=4.0 if kind == "sigmoid_large" else 0.05)


def write_split(root, x, y):
    for i, (img, label) in enumerate(zip(x, y)):
        d = os.path.join(root, str(int(label)))
        os.makedirs(d, exist_ok=True)
        Image.fromarray(img.astype(np.uint8), mode="L").save(os.path.join(d, "%04d.png" % i))


def export(model, path):
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 8, 8), path, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, opset_version=13)
    model.train()


def train(out, name, kind, x, y, epochs, opt_fn, batch, seed, every=1):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(seed)
    model = make_model(kind)
    opt = opt_fn(model.parameters())
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y)
    g = torch.Generator().manual_seed(seed)
    export(model, os.path.join(d, "epoch_0.onnx"))
    for e in range(1, epochs + 1):
        perm = torch.randperm(len(xt), generator=g)
        for b in range(0, len(xt), batch):
            idx = perm[b:b + batch]
            opt.zero_grad()
            F.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
        if e % every == 0:
            export(model, os.path.join(d, "epoch_%d.onnx" % e))
    with open(os.path.join(d, "run.json"), "w") as f:
        json.dump({"kind": kind, "epochs": epochs, "train_size": len(x)}, f)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    digits = load_digits()
    pixels = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)  # N × 8 × 8 bytes
    xtr, xva, ytr, yva = train_test_split(pixels, digits.target, test_size=0.2, random_state=0, stratify=digits.target)
    write_split(os.path.join(out, "data", "train"), xtr, ytr)
    write_split(os.path.join(out, "data", "val"), xva, yva)
    rng = np.random.RandomState(0)
    tiny = np.concatenate([rng.choice(np.where(ytr == c)[0], 3, replace=False) for c in range(10)])
    write_split(os.path.join(out, "tiny", "train"), xtr[tiny], ytr[tiny])
    write_split(os.path.join(out, "tiny", "val"), xva, yva)

    def tensor(p):
        return (p.astype(np.float32) / np.float32(255.0))[:, None, :, :]

    np.save(os.path.join(out, "probe.npy"), tensor(xva[:64]))
    np.save(os.path.join(out, "probe_labels.npy"), yva[:64].astype(np.int64))
    x, y = tensor(xtr), ytr.astype(np.int64)

    train(out, "healthy", "cnn", x, y, 6, lambda p: torch.optim.Adam(p, lr=3e-3), 32, 1)
    train(out, "vanishing", "sigmoid", x, y, 6, lambda p: torch.optim.SGD(p, lr=0.1), 32, 2)
    train(out, "saturated", "sigmoid_large", x, y, 6, lambda p: torch.optim.SGD(p, lr=0.1), 32, 5)
    train(out, "high_lr", "cnn", x, y, 6, lambda p: torch.optim.SGD(p, lr=2.0), 32, 3)
    train(out, "overfit", "cnn", x[tiny], y[tiny], 150, lambda p: torch.optim.Adam(p, lr=3e-3), 30, 4, every=15)
    weight_only(os.path.join(out, "healthy"), os.path.join(out, "healthy_npy"))


def weight_only(src, dst):
    """The healthy run as one graph plus weight-only checkpoints: dst/graph.onnx (epoch 0) and
    dst/epoch_<k>/<initializer>.npy, written from the ONNX files with the onnx module."""
    import onnx
    from onnx import numpy_helper
    os.makedirs(dst, exist_ok=True)
    names = sorted((f for f in os.listdir(src) if f.endswith(".onnx")), key=lambda f: int(f[6:-5]))
    with open(os.path.join(src, names[0]), "rb") as f, open(os.path.join(dst, "graph.onnx"), "wb") as g:
        g.write(f.read())
    for n in names:
        d = os.path.join(dst, n[:-5])
        os.makedirs(d, exist_ok=True)
        for t in onnx.load(os.path.join(src, n)).graph.initializer:
            np.save(os.path.join(d, t.name + ".npy"), numpy_helper.to_array(t))


if __name__ == "__main__":
    main()
