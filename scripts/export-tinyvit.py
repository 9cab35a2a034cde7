"""Exports a tiny Vision Transformer (patch 16, dim 64, 4 heads, 3 blocks, class token, random
weights, seed 0) to ONNX, so the attention analyses see the graph a real exporter writes
(nn.MultiheadAttention as torch.onnx lowers it) rather than a hand-built one.

    /usr/bin/python3 scripts/export-tinyvit.py OUT.onnx [--size 64] [--blocks 3]

Uses Debian's python3-torch (scripts/export-torchvision.sh installs it). No download.
"""
import argparse

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.n1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.n2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        h = self.n1(x)
        # need_weights=False keeps the exported graph to one Softmax per block (the map itself).
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.n2(x))


class TinyViT(nn.Module):
    def __init__(self, size=64, patch=16, dim=64, heads=4, blocks=3, classes=10):
        super().__init__()
        self.embed = nn.Conv2d(3, dim, patch, stride=patch)
        n = (size // patch) ** 2
        self.cls = nn.Parameter(torch.randn(1, 1, dim))
        self.pos = nn.Parameter(0.5 * torch.randn(1, n + 1, dim))
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(blocks)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        t = self.embed(x).flatten(2).transpose(1, 2)  # [N, H'W', dim]
        t = torch.cat([self.cls.expand(x.shape[0], -1, -1), t], 1) + self.pos
        t = self.norm(self.blocks(t))
        return self.head(t[:, 0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=3)
    a = ap.parse_args()
    torch.manual_seed(0)
    m = TinyViT(size=a.size, blocks=a.blocks).eval()
    x = torch.randn(1, 3, a.size, a.size)
    torch.onnx.export(m, x, a.out, input_names=["image"], output_names=["logits"], opset_version=17,
                      do_constant_folding=True)


if __name__ == "__main__":
    main()
