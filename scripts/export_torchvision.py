"""Exports torchvision CNNs with random weights to ONNX (called by export-torchvision.sh).

    /usr/bin/python3 export_torchvision.py OUTDIR [--opset 17] [NAME ...]

NAME is one of resnet50, mobilenet_v2, vgg16, efficientnet_b0, vit_b_16, googlenet, densenet121 (default: the
first five; the last two are the layout tests' branching networks). The weights are torchvision's random
initialisation with a fixed seed (weights=None: nothing is downloaded); what matters for netlens is
the graph and the arithmetic, checked against onnxruntime. BatchNorm runs in eval mode with
randomised running statistics so that it is not an identity; a zero-initialised Linear (ViT's head)
gets random weights.
"""
import argparse
import os
import sys

import torch
import torchvision

MODELS = {
    "resnet50": torchvision.models.resnet50,
    "mobilenet_v2": torchvision.models.mobilenet_v2,
    "vgg16": torchvision.models.vgg16,
    # EfficientNet (SiLU, squeeze-excitation) and a vision transformer (LayerNorm, attention, GELU):
    # the gradient tests cover these architectures too.
    "efficientnet_b0": torchvision.models.efficientnet_b0,
    "vit_b_16": torchvision.models.vit_b_16,
    # Branches side by side (Inception) and dense concatenation: the layout tests (tests/viz).
    # GoogLeNet without its training-only auxiliary heads; no input transform (the ONNX input is the
    # already normalised tensor, as for the others).
    "googlenet": lambda weights=None: torchvision.models.googlenet(weights=weights, aux_logits=False,
                                                                   init_weights=True, transform_input=False),
    "densenet121": torchvision.models.densenet121,
}
DEFAULT = ["resnet50", "mobilenet_v2", "vgg16", "efficientnet_b0", "vit_b_16"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("names", nargs="*", default=DEFAULT)
    a = ap.parse_intermixed_args()
    if not 13 <= a.opset <= 17:
        sys.exit("export_torchvision: --opset must be 13..17")
    os.makedirs(a.outdir, exist_ok=True)
    torch.set_num_threads(2)
    for name in a.names:
        if name not in MODELS:
            sys.exit(f"export_torchvision: unknown model '{name}' (known: {', '.join(MODELS)})")
        torch.manual_seed(0)
        model = MODELS[name](weights=None)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
                # ViT's classifier head starts at zero: every logit would be its bias and every
                # gradient upstream of it zero.
                if isinstance(m, torch.nn.Linear) and not m.weight.any():
                    m.weight.normal_(0.0, 0.02)
        model.eval()
        x = torch.rand(1, 3, 224, 224)
        out = os.path.join(a.outdir, name + ".onnx")
        tmp = out + ".part"
        torch.onnx.export(model, x, tmp, opset_version=a.opset, input_names=["input"], output_names=["logits"],
                          do_constant_folding=True)
        os.replace(tmp, out)
        print(f"{out}: opset {a.opset}, input 1x3x224x224")


if __name__ == "__main__":
    main()
