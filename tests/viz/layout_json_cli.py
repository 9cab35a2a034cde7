#!/usr/bin/env python3
"""render --layout-json end to end (issue 13): on the U-Net (scripts/export-unet.py --size 256) and on
ResNet-50 collapsed to its blocks, the written JSON has every shown layer with a world box and group
path, no two boxes intersect, no two label rectangles overlap and all lie in the frame, the U-Net is a
U whose skip bridges are short, and --collapse auto folds ResNet-50's 16 bottleneck blocks.

    layout_json_cli.py NETLENS MODELS_DIR OUT_DIR      (exit 77: no Vulkan device or model missing)
"""
import json
import os
import subprocess
import sys


def render(netlens, model, out, *flags):
    p = subprocess.run([netlens, "render", model, "--out", out + ".png", "--size", "1280x720", "--layout-json", out + ".json", *flags],
                       capture_output=True, text=True)
    if p.returncode != 0:
        if "Vulkan" in p.stderr and "device" in p.stderr.lower():
            sys.exit(77)
        sys.exit(f"render failed: {p.stderr}")
    return json.load(open(out + ".json"))


def check_common(d, name):
    L = d["layers"]
    assert L, name
    for i, a in enumerate(L):
        for b in L[i + 1:]:
            if all(abs(a["center"][k] - b["center"][k]) < 0.5 * (a["size"][k] + b["size"][k]) - 1e-3 for k in range(3)):
                sys.exit(f"{name}: boxes of {a['tensor']} and {b['tensor']} intersect")
    labels = d["labels"]
    assert len(labels) >= 3, f"{name}: {len(labels)} labels"
    for i, a in enumerate(labels):
        x, y, w, h = a["rect"]
        assert x >= 0 and y >= 0 and x + w <= 1280 and y + h <= 720, f"{name}: label {a['text']} outside the frame"
        for b in labels[i + 1:]:
            X, Y, W, H = b["rect"]
            if x < X + W and X < x + w and y < Y + H and Y < y + h:
                sys.exit(f"{name}: labels {a['text']} and {b['text']} overlap")


def main():
    netlens, models, out = sys.argv[1:4]
    os.makedirs(out, exist_ok=True)
    unet, resnet = os.path.join(models, "unet.onnx"), os.path.join(models, "resnet50.onnx")
    if not (os.path.exists(unet) and os.path.exists(resnet)):
        print("models missing (scripts/export-unet.py, scripts/export-torchvision.sh)")
        sys.exit(77)
    d = render(netlens, unet, os.path.join(out, "unet"))
    check_common(d, "unet")
    assert d["u_shape"] and d["rows"] == 2, "unet: not a U"
    L = d["layers"]
    spine = sorted((v for v in L if v["spine"] and v["row"] == 0), key=lambda v: v["level"])
    spacing = sum(abs(b["center"][0] - a["center"][0]) for a, b in zip(spine, spine[1:])) / (len(spine) - 1)
    bridges = [e["length"] for e in d["edges"] if e["kind"] == "bridge" and L[e["to"]]["op"] == "Concat"]
    assert len(bridges) == 4, bridges
    ratio = sum(bridges) / len(bridges) / spacing
    print(f"unet: mean skip bridge / mean encoder spacing = {ratio:.2f}")
    assert ratio <= 1.5, ratio
    d = render(netlens, resnet, os.path.join(out, "resnet50_auto"), "--collapse", "auto")
    check_common(d, "resnet50 --collapse auto")
    folded = [v for v in d["layers"] if v["folded"]]
    assert len(folded) == 16 and all(v["group"].startswith("layer") for v in folded), [v["group"] for v in folded]
    # A collapsed block is selected by its output tensor; a tensor folded away is not shown: one error.
    block = folded[5]["tensor"]
    render(netlens, resnet, os.path.join(out, "resnet50_sel"), "--collapse", "auto", "--select", block + ":0")
    hidden = "/layer2/layer2.1/conv1/Conv_output_0"
    p = subprocess.run([netlens, "render", resnet, "--out", os.path.join(out, "x.png"), "--collapse", "auto", "--select", hidden + ":0"],
                       capture_output=True, text=True)
    assert p.returncode != 0 and hidden in p.stderr, p.stderr
    p = subprocess.run([netlens, "render", resnet, "--out", os.path.join(out, "x.png"), "--collapse", "layer9"], capture_output=True, text=True)
    assert p.returncode != 0 and "no group 'layer9'" in p.stderr, p.stderr
    d = render(netlens, resnet, os.path.join(out, "resnet50"))
    check_common(d, "resnet50")
    assert d["rows"] >= 2 and any(v["dir"] == -1 for v in d["layers"])
    groups = {v["group"] for v in d["layers"]}
    assert "layer1/layer1.0" in groups, sorted(groups)[:10]
    print("layout json: ok")


if __name__ == "__main__":
    main()
