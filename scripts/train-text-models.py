#!/usr/bin/python3
"""Trains netlens' small text models with Debian's python3-torch on text every Debian system has
offline (the licence texts in /usr/share/common-licenses), and exports them to ONNX.

    scripts/train-text-models.py OUTDIR [--steps N] [--seed S]

Writes:
  OUTDIR/charlstm.onnx        a character-level LSTM language model: ids int64 [1, T] → Embedding(V, 16)
                              → LSTM(16 → 64) → Linear(64 → V) logits [1, T, V] (T dynamic). The
                              LSTM node's Y is every step's hidden state; netlens also keeps every
                              step's cell state ("<Y>:cell").
  OUTDIR/charlstm.vocab.json  the vocabulary: a JSON list of one-character strings, id = index (what
                              `netlens ... --text "..."` reads beside the model).
  OUTDIR/charlstm.eval.txt    a held-out passage (the start of the Apache-2.0 licence, never trained on)
  OUTDIR/charlstm.eval_ids.npy  its ids (int64 [1, T]) as this script tokenizes it
  OUTDIR/charlstm.units.json  for that passage: per feature (column in the line, inside "quotes",
                              inside (parentheses)), the LSTM unit (hidden state h or cell state c)
                              whose value correlates most with it (Pearson r, computed here with
                              PyTorch), and the held-out loss in bits per character.

Training: every licence but Apache-2.0, random 96-character windows, batch 24, Adam (lr 3e-3),
--steps steps (default 1000; 2.5-4 minutes on one core of a loaded 2-core machine), seeded, torch.set_num_threads(1).
"""
import argparse
import glob
import json
import math
import os
import time
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")  # torch.onnx's export chatter
LICENSES = "/usr/share/common-licenses"
HELD_OUT = "Apache-2.0"
EVAL_CHARS = 3000


class CharLstm(torch.nn.Module):
    def __init__(self, vocab, embed=16, hidden=64):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, embed)
        self.lstm = torch.nn.LSTM(embed, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, ids):
        y, _ = self.lstm(self.embed(ids))
        return self.head(y)


def features(text):
    """Per character: column in its line, inside "..." (after an opening quote, up to its closing
    one), inside (...) (nesting depth > 0). The state after reading the character."""
    col, quote, depth = [], [], []
    c, q, d = 0, False, 0
    for ch in text:
        c = 0 if ch == "\n" else c + 1
        if ch == '"':
            q = not q
        if ch == "(":
            d += 1
        if ch == ")":
            d = max(d - 1, 0)
        col.append(c)
        quote.append(1.0 if q else 0.0)
        depth.append(1.0 if d > 0 else 0.0)
    return {"column": np.array(col, float), "quotes": np.array(quote, float), "parentheses": np.array(depth, float)}


def best_units(states, feats):
    out = {}
    for fname, f in feats.items():
        best = None
        for kind, m in states.items():
            for u in range(m.shape[1]):
                v = m[:, u]
                if v.std() < 1e-9 or f.std() < 1e-9:
                    continue
                r = float(np.corrcoef(v, f)[0, 1])
                if best is None or abs(r) > abs(best["r"]):
                    best = {"state": kind, "unit": u, "r": r}
        out[fname] = best
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    files = sorted(p for p in glob.glob(os.path.join(LICENSES, "*")) if os.path.isfile(p) and not os.path.islink(p))
    texts = {os.path.basename(p): open(p, encoding="utf-8", errors="replace").read() for p in files}
    if HELD_OUT not in texts or len(texts) < 5:
        raise SystemExit(f"train-text-models: {LICENSES} lacks the licence texts (base-files)")
    train = "\n".join(t for n, t in texts.items() if n != HELD_OUT)
    held = texts[HELD_OUT][:EVAL_CHARS]
    vocab = sorted(set(train) | set(held))
    index = {ch: i for i, ch in enumerate(vocab)}
    data = torch.tensor([index[ch] for ch in train], dtype=torch.long)

    model = CharLstm(len(vocab))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    T, B = 96, 24
    t0 = time.time()
    for step in range(a.steps):
        starts = rng.integers(0, len(data) - T - 1, B)
        x = torch.stack([data[s:s + T] for s in starts])
        y = torch.stack([data[s + 1:s + T + 1] for s in starts])
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, len(vocab)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 250 == 0 or step == a.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.3f}  ({time.time() - t0:.0f} s)", flush=True)
    model.eval()

    # Held-out passage: loss, and the units that track each feature (hidden h and cell c, every step).
    ids = torch.tensor([[index[ch] for ch in held]], dtype=torch.long)
    with torch.no_grad():
        y, _ = model.lstm(model.embed(ids))
        logits = model.head(y)
        bits = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:]).item() / math.log(2)
        # Cell states: step the same LSTM one character at a time (torch.nn.LSTM returns only the last).
        h = torch.zeros(1, 1, model.lstm.hidden_size)
        c = torch.zeros_like(h)
        cells = []
        emb = model.embed(ids)
        for t in range(ids.shape[1]):
            _, (h, c) = model.lstm(emb[:, t:t + 1], (h, c))
            cells.append(c[0, 0].numpy().copy())
    states = {"h": y[0].numpy(), "c": np.stack(cells)}
    units = best_units(states, features(held))
    for k, v in units.items():
        print(f"held-out: {k:12s} best unit {v['state']}[{v['unit']}]  r = {v['r']:+.3f}")
    print(f"held-out: {bits:.3f} bits/char")

    torch.onnx.export(model, (ids,), os.path.join(a.out, "charlstm.onnx"), input_names=["ids"],
                      output_names=["logits"], dynamic_axes={"ids": {1: "T"}, "logits": {1: "T"}}, opset_version=14)
    json.dump(vocab, open(os.path.join(a.out, "charlstm.vocab.json"), "w"))
    open(os.path.join(a.out, "charlstm.eval.txt"), "w").write(held)
    np.save(os.path.join(a.out, "charlstm.eval_ids.npy"), ids.numpy())
    json.dump({"bits_per_char": bits, "units": units, "steps": a.steps, "seed": a.seed},
              open(os.path.join(a.out, "charlstm.units.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
