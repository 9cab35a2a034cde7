"""Independent reference for `netlens timeline --json` on a run of make_runs.py.

    python3 reference.py RUN_DIR REPORT.json PROBE.npy LABELS.npy [EVAL_DIR]

Recomputes, per checkpoint and layer, from the ONNX files themselves (onnx.numpy_helper, NumPy in
float64): weight norm, ‖ΔW‖ and ‖ΔW‖/‖W_prev‖; and with PyTorch (the run's module class from
make_runs.py, its state_dict filled from the checkpoint's initializers): the post-activation
statistics on the probe (mean, std, dead ReLU channels, saturated sigmoid share), the gradient norm of
the mean cross-entropy at the labels over each layer's parameters (autograd), probe loss/accuracy and,
with EVAL_DIR, loss/accuracy of every split (PNG bytes / 255 through PIL). Prints one JSON object:
the worst relative error per figure family and the number of values compared.
"""
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_runs import make_model  # noqa: E402


def rel(a, b, floor):
    if a is None or b is None:
        return float("inf")
    return abs(a - b) / max(abs(b), floor)


def load_split(root):
    xs, ys = [], []
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    for ci, c in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(root, c))):
            xs.append(np.asarray(Image.open(os.path.join(root, c, f)).convert("L"), dtype=np.float32) / np.float32(255.0))
            ys.append(ci)
    return torch.from_numpy(np.stack(xs)[:, None]), torch.tensor(ys)


def main():
    run, report_path, probe_path, labels_path = sys.argv[1:5]
    eval_dir = sys.argv[5] if len(sys.argv) > 5 else None
    report = json.load(open(report_path))
    kind = json.load(open(os.path.join(run, "run.json")))["kind"]
    probe = torch.from_numpy(np.load(probe_path))
    labels = torch.from_numpy(np.load(labels_path))
    splits = {}
    if eval_dir:
        names = {"train": "train", "val": "validation"}
        for d, s in names.items():
            if os.path.isdir(os.path.join(eval_dir, d)):
                splits[s] = load_split(os.path.join(eval_dir, d))
    worst = {k: 0.0 for k in ["weight_norm", "delta_norm", "update_ratio", "grad_norm", "act_mean", "act_std",
                              "saturated_share", "probe_loss", "eval_loss"]}
    mismatch = {"dead_channels": 0, "probe_accuracy": 0, "eval_accuracy": 0}
    compared = 0
    prev = None
    for cp in report["checkpoints"]:
        m = onnx.load(cp["path"])
        w = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in m.graph.initializer}
        model = make_model(kind)
        sd = model.state_dict()
        model.load_state_dict({k: torch.from_numpy(w[k].astype(np.float32)) for k in sd})
        model.eval()
        z = model(probe)
        loss = F.cross_entropy(z, labels)
        loss.backward()
        acts = {k: v.detach().numpy().astype(np.float64) for k, v in model.acts.items()}
        grads = {n: p.grad.numpy().astype(np.float64) for n, p in model.named_parameters()}
        worst["probe_loss"] = max(worst["probe_loss"], rel(cp["probe_loss"], loss.item(), 1e-6))
        acc = (z.argmax(1) == labels).double().mean().item()
        mismatch["probe_accuracy"] += int(abs(cp["probe_accuracy"] - acc) > 1e-9)
        for layer, lp in zip(report["layers"], cp["layers"]):
            params = layer["params"]
            wn = np.sqrt(sum((w[p] ** 2).sum() for p in params))
            worst["weight_norm"] = max(worst["weight_norm"], rel(lp["weight_norm"], wn, 1e-12))
            if prev is not None:
                dn = np.sqrt(sum(((w[p] - prev[p]) ** 2).sum() for p in params))
                pn = np.sqrt(sum((prev[p] ** 2).sum() for p in params))
                worst["delta_norm"] = max(worst["delta_norm"], rel(lp["delta_norm"], dn, 1e-12))
                worst["update_ratio"] = max(worst["update_ratio"], rel(lp["update_ratio"], dn / pn, 1e-12))
            gn = np.sqrt(sum((grads[p] ** 2).sum() for p in params))
            worst["grad_norm"] = max(worst["grad_norm"], rel(lp["grad_norm"], gn, 1e-30))
            module = params[0].rsplit(".", 1)[0]
            a = acts[module]
            st = lp["activation"]
            worst["act_mean"] = max(worst["act_mean"], rel(st["mean"], a.mean(), 1e-6))
            worst["act_std"] = max(worst["act_std"], rel(st["std"], a.std(), 1e-6))
            if layer["activation_op"] == "Relu":
                axes = tuple(i for i in range(a.ndim) if i != 1)
                dead = int((a.max(axis=axes) <= 0).sum())
                mismatch["dead_channels"] += int(dead != st["dead_channels"])
            sat = float(((a <= 0.01) | (a >= 0.99)).mean()) if layer["activation_op"] == "Sigmoid" else 0.0
            worst["saturated_share"] = max(worst["saturated_share"], abs(st["saturated_share"] - sat))
            compared += 1
        with torch.no_grad():
            for e in cp["eval"]:
                x, y = splits[e["split"]]
                ze = model(x)
                worst["eval_loss"] = max(worst["eval_loss"], rel(e["loss"], F.cross_entropy(ze, y).item(), 1e-6))
                mismatch["eval_accuracy"] += int(abs(e["accuracy"] - (ze.argmax(1) == y).double().mean().item()) > 1e-9)
        prev = w
    print(json.dumps({"worst": worst, "mismatch": mismatch, "layer_points": compared}))


if __name__ == "__main__":
    main()
