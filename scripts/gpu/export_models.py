"""Exports torchvision ResNet-50, MobileNetV2 and VGG-16 (weights=None: torchvision's random
initialisation, seed 0; nothing is downloaded) to ONNX opset 17 with a fixed 1x3x224x224 input.

    python3 scripts/gpu/export_models.py OUTDIR [NAME ...]

Used by scripts/gpu-check.sh on the GPU machine (PyTorch is there, not here). Prints one line per
model; a model that fails to export is reported and skipped (exit status 1 if any failed).
"""
import os
import sys
import time
import warnings

import torch
import torchvision

MODELS = {
    "resnet50": torchvision.models.resnet50,
    "mobilenet_v2": torchvision.models.mobilenet_v2,
    "vgg16": torchvision.models.vgg16,
}


def build(name):
    torch.manual_seed(0)
    return MODELS[name](weights=None).eval()


def export(model, path):
    x = torch.randn(1, 3, 224, 224)
    kwargs = dict(input_names=["input"], output_names=["logits"], opset_version=17)
    try:  # the TorchScript exporter: no onnxscript needed
        torch.onnx.export(model, (x,), path, dynamo=False, **kwargs)
    except TypeError:  # older torch without the dynamo argument
        torch.onnx.export(model, (x,), path, **kwargs)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    names = sys.argv[2:] or list(MODELS)
    os.makedirs(out, exist_ok=True)
    warnings.filterwarnings("ignore")
    failed = 0
    for name in names:
        path = os.path.join(out, name + ".onnx")
        t0 = time.time()
        try:
            with torch.no_grad():
                export(build(name), path)
            print(f"export {name}: {os.path.getsize(path) / 1e6:.1f} MB in {time.time() - t0:.1f} s -> {path}", flush=True)
        except Exception as e:  # keep going: the other models are still useful
            failed += 1
            print(f"export {name}: FAILED: {type(e).__name__}: {e}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
