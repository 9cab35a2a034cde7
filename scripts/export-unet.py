"""Exports a U-Net (the classic encoder/decoder with skip connections, 4 levels, random weights) to
ONNX for the renderer's scale test: at 1024x1024 its activations number several hundred million.

    /usr/bin/python3 scripts/export-unet.py OUT.onnx [--base 16] [--size 1024]

The layout tests (tests/viz/test_layout_models.cpp, layout_json_cli.py) read
$NETLENS_CACHE_DIR/models/unet.onnx made with --size 256 (skipped when it is missing).

Uses Debian's python3-torch (scripts/export-torchvision.sh installs it). No download.
"""
import argparse

import torch
from torch import nn


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, base=16, levels=4):
        super().__init__()
        ch = [base * 2**i for i in range(levels + 1)]
        self.down = nn.ModuleList([block(3, ch[0])] + [block(ch[i], ch[i + 1]) for i in range(levels)])
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList([nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2) for i in reversed(range(levels))])
        self.dec = nn.ModuleList([block(2 * ch[i], ch[i]) for i in reversed(range(levels))])
        self.head = nn.Conv2d(ch[0], 1, 1)

    def forward(self, x):
        skips = []
        for i, d in enumerate(self.down):
            x = d(x if i == 0 else self.pool(x))
            skips.append(x)
        skips.pop()
        for up, dec in zip(self.up, self.dec):
            x = dec(torch.cat([up(x), skips.pop()], 1))
        return torch.sigmoid(self.head(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--base", type=int, default=16)
    ap.add_argument("--size", type=int, default=1024)
    a = ap.parse_args()
    torch.manual_seed(0)
    m = UNet(a.base).eval()
    x = torch.rand(1, 3, a.size, a.size)
    torch.onnx.export(m, x, a.out, input_names=["image"], output_names=["mask"], opset_version=13)
    print(f"export-unet: {a.out} (base {a.base}, {a.size}x{a.size})")


if __name__ == "__main__":
    main()
