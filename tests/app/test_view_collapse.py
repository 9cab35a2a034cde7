#!/usr/bin/env python3
"""Collapse and expand in the viewer window (Xvfb, lavapipe, CPU backend), from a script.

ResNet-50 on a real photo (chelsea) at 960x540, all 122 layers shown:
1. a click on layer1.0's conv2 region selects a tensor of /layer1/layer1.0/ (the pick line);
2. key X collapses the selected layer's innermost group: 115 layers, collapse spec layer1/layer1.0
   (the block folds layer1.0's 8 layers);
3. a click on the block picks the block's output tensor (layer1.0's last Relu) and expands it: 122
   layers again, collapse none.
4. DenseNet-121 (> 150 layers) starts with --collapse auto (<= 48 entries); --collapse none shows all.
The pixels are where the deterministic layout and overview camera put those volumes (see the
screenshots under WORK_DIR when this fails).
Usage: test_view_collapse.py NETLENS MODELS_DIR WORK_DIR
"""
import json
import os
import subprocess
import sys

NETLENS, MODELS, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
PHOTO = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"


def main():
    os.makedirs(WORK, exist_ok=True)
    model = os.path.join(MODELS, "resnet50.onnx")
    if not os.path.exists(model):
        sys.exit("FAIL: resnet50.onnx missing: scripts/export-torchvision.sh")
    script = os.path.join(WORK, "collapse.txt")
    with open(script, "w") as f:
        f.write("settle\nframes 2\nclick 540 145\nframes 2\nkey x\nframes 3\n"
                f"screenshot {WORK}/collapsed.png\nframes 2\nclick 410 145\nframes 3\n"
                f"screenshot {WORK}/expanded.png\nframes 2\nclose\n")
    p = subprocess.run(["xvfb-run", "-a", NETLENS, "view", model, "--input", PHOTO, "--size", "960x540",
                        "--script", script], capture_output=True, text=True, timeout=500)
    assert p.returncode == 0, p.stderr[-2000:]
    picks = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    shown = [l for l in p.stderr.splitlines() if "layers shown" in l]
    print("picks:", [(k or {}).get("tensor") for k in picks])
    print("\n".join(shown))
    assert len(picks) == 2, p.stdout
    assert picks[0] and "/layer1/layer1.0/" in picks[0]["tensor"], picks[0]
    assert shown[0].endswith("115 layers shown (collapse layer1/layer1.0)"), shown
    assert picks[1] and picks[1]["tensor"] == "/layer1/layer1.0/relu_2/Relu_output_0", picks[1]
    assert len(shown) == 2 and shown[1].endswith("122 layers shown (collapse none)"), shown
    # The start rule: DenseNet-121 (more than 150 shown layers) starts collapsed (auto), unless
    # --collapse none is given.
    dn = os.path.join(MODELS, "densenet121.onnx")
    assert os.path.exists(dn), "densenet121.onnx missing: scripts/export-torchvision.sh densenet121"
    quick = os.path.join(WORK, "quick.txt")
    with open(quick, "w") as f:
        f.write("settle\nframes 2\nclose\n")
    for extra, want in (([], "layers shown (collapse auto)"), (["--collapse", "none"], None)):
        q = subprocess.run(["xvfb-run", "-a", NETLENS, "view", dn, "--input", PHOTO, "--size", "640x360",
                            "--script", quick] + extra, capture_output=True, text=True, timeout=500)
        assert q.returncode == 0, q.stderr[-2000:]
        lines = [l for l in q.stderr.splitlines() if "layers shown" in l]
        print(extra, lines)
        if want:
            assert len(lines) == 1 and lines[0].endswith(want), lines
            assert int(lines[0].split()[2]) <= 48, lines
        else:
            assert not lines, lines
    print("OK")


if __name__ == "__main__":
    main()
