#!/usr/bin/python3
"""Trains netlens' small text models with Debian's python3-torch on text every Debian system has
offline (the licence texts in /usr/share/common-licenses), and exports them to ONNX.

    scripts/train-text-models.py OUTDIR [--models charlstm,textcls] [--steps N] [--cls-steps N] [--seed S]

Writes (--models picks which; default both):
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

  OUTDIR/textcls.onnx         a one-layer, two-head transformer that classifies a sentence by the topic
                              word it contains: ids int64 [1, T] ([CLS] first) → Embedding(V, 32) +
                              learned positions → pre-LayerNorm self-attention (MatMul/Softmax written
                              out, so netlens finds it) → FFN → LayerNorm → Linear(32 → 5) on [CLS] →
                              logits [1, 5]. T ≤ 32 (dynamic).
  OUTDIR/textcls.vocab.json   {"tokenizer": "word", "prepend": ["[CLS]"], "max_tokens": 32,
                              "tokens": [...], "classes": [...]}: the training words (seen twice or
                              more, lower case) plus [PAD], [UNK], [CLS].
  OUTDIR/textcls.eval.json    held-out sentences: per sentence its text, tokens, ids, class, the
                              deciding word's token position (-1 for "none"), PyTorch's logits and both heads'
                              attention rows of [CLS] (softmax output, [heads, T]); plus the accuracy
                              and the mean share of [CLS]'s attention (head mean) on the deciding word.
  OUTDIR/textcls.eval_ids_I.npy  the first 8 held-out sentences' ids (for onnxruntime), I = 0..7

The task: windows of 8-22 words of the licence texts with every topic word removed, and one topic word
(warranty, patent, trademark, copyright and their plurals) put back at a random place, or none; the
class is its topic ("none" without one), so one word decides it and [CLS] has to find it. Trained on every licence but Apache-2.0
(--cls-steps, default 800: ~10 s); held out: windows of Apache-2.0 (words the training
never saw become [UNK]).
"""
import argparse
import glob
import json
import math
import os
import re
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


def licence_texts():
    files = sorted(p for p in glob.glob(os.path.join(LICENSES, "*")) if os.path.isfile(p) and not os.path.islink(p))
    texts = {os.path.basename(p): open(p, encoding="utf-8", errors="replace").read() for p in files}
    if HELD_OUT not in texts or len(texts) < 5:
        raise SystemExit(f"train-text-models: {LICENSES} lacks the licence texts (base-files)")
    return texts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--models", default="charlstm,textcls")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--cls-steps", type=int, default=800)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    models = set(a.models.split(","))
    if not models or models - {"charlstm", "textcls"}:
        raise SystemExit(f"train-text-models: --models takes charlstm and/or textcls, not '{a.models}'")
    texts = licence_texts()
    if "charlstm" in models:
        train_charlstm(a, texts)
    if "textcls" in models:
        train_textcls(a, texts)


def train_charlstm(a, texts):
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
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


# ---- the transformer classifier ---------------------------------------------------------------------
TOPICS = {"warranty": ["warranty", "warranties"], "patent": ["patent", "patents"],
          "trademark": ["trademark", "trademarks"], "copyright": ["copyright", "copyrights", "copyrighted"]}
# "none": no topic word. Without it the last topic could be decided by the absence of the others,
# and [CLS] would have no reason to look at its word (seen at 4 classes: trademark sentences).
CLASSES = list(TOPICS) + ["none"]
TOPIC_PREFIXES = ("warrant", "patent", "trademark", "copyright")
MAX_TOKENS = 32
SPECIALS = ["[PAD]", "[UNK]", "[CLS]"]
ORT_SENTENCES = 8  # held-out sentences saved as .npy for onnxruntime


class TinyTransformer(torch.nn.Module):
    """One pre-LayerNorm encoder layer, attention written out (MatMul, Div, Softmax, MatMul) so the
    exported graph has the pattern netlens recognises; the class is read from [CLS] (position 0)."""

    def __init__(self, vocab, classes, d=32, heads=2, ffn=64):
        super().__init__()
        self.heads, self.dh = heads, d // heads
        self.embed = torch.nn.Embedding(vocab, d)
        self.pos = torch.nn.Parameter(torch.randn(MAX_TOKENS, d) * 0.1)
        self.ln1, self.ln2, self.ln3 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (torch.nn.Linear(d, d) for _ in range(4))
        self.ff1, self.ff2 = torch.nn.Linear(d, ffn), torch.nn.Linear(ffn, d)
        self.head = torch.nn.Linear(d, classes)

    def forward(self, ids, want_attention=False):
        b, t = ids.shape
        x = self.embed(ids) + self.pos[:t]
        h = self.ln1(x)
        split = lambda z: z.reshape(b, t, self.heads, self.dh).transpose(1, 2)  # [B, heads, T, dh]
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        att = torch.softmax(torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.dh), dim=-1)  # [B, heads, T, T]
        y = torch.matmul(att, v).transpose(1, 2).reshape(b, t, self.heads * self.dh)
        x = x + self.o(y)
        x = x + self.ff2(torch.relu(self.ff1(self.ln2(x))))
        logits = self.head(self.ln3(x[:, 0]))
        return (logits, att) if want_attention else logits


def words_of(text):
    return re.findall(r"[a-z]+", text.lower())


def topic_free(words):
    return [w for w in words if not w.startswith(TOPIC_PREFIXES)]


def make_sentence(words, rng, n=None):
    """A window of n (8-22) topic-free words with one topic word at a random place, or n + 1 topic-free
    words (class "none"): (words, class, position of the topic word or -1)."""
    n = int(rng.integers(8, 23)) if n is None else n
    s = int(rng.integers(0, len(words) - n - 1))
    c = int(rng.integers(0, len(CLASSES)))
    if CLASSES[c] == "none":
        return list(words[s:s + n + 1]), c, -1  # n + 1 words, as the others
    sent = list(words[s:s + n])
    choices = TOPICS[CLASSES[c]]
    at = int(rng.integers(0, n + 1))
    sent.insert(at, choices[int(rng.integers(0, len(choices)))])
    return sent, c, at


def train_textcls(a, texts):
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed + 1)
    train_words = topic_free([w for n, t in texts.items() if n != HELD_OUT for w in words_of(t)])
    held_words = topic_free(words_of(texts[HELD_OUT]))
    counts = {}
    for w in train_words:
        counts[w] = counts.get(w, 0) + 1
    topic_words = [w for ws in TOPICS.values() for w in ws]
    tokens = SPECIALS + sorted(set(w for w, n in counts.items() if n >= 2) | set(topic_words))
    index = {w: i for i, w in enumerate(tokens)}
    unk, cls = index["[UNK]"], index["[CLS]"]
    encode = lambda sent: [cls] + [index.get(w, unk) for w in sent]

    model = TinyTransformer(len(tokens), len(CLASSES))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    B = 32
    t0 = time.time()
    for step in range(a.cls_steps):
        # One length per batch (no padding): every sentence of the batch has n + 1 words.
        n = int(rng.integers(8, 23))
        xs, ys = [], []
        for _ in range(B):
            sent, c, _ = make_sentence(train_words, rng, n)
            ids = encode(sent)
            # Word dropout to [UNK] (never the topic word) so [UNK] means something at test time.
            ids = [unk if j > 0 and tokens[i] not in topic_words and rng.random() < 0.1 else i for j, i in enumerate(ids)]
            xs.append(ids)
            ys.append(c)
        loss = torch.nn.functional.cross_entropy(model(torch.tensor(xs)), torch.tensor(ys))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == a.cls_steps - 1:
            print(f"textcls step {step:4d}  loss {loss.item():.3f}  ({time.time() - t0:.0f} s)", flush=True)
    model.eval()

    # Held-out sentences from Apache-2.0: accuracy and where [CLS] looks.
    sentences, correct, shares = [], 0, []
    for i in range(60):
        sent, c, at = make_sentence(held_words, rng)
        ids = torch.tensor([encode(sent)])
        with torch.no_grad():
            logits, att = model(ids, want_attention=True)
        row = att[0, :, 0, :].numpy()  # [heads, T]: [CLS]'s attention
        if at >= 0:
            shares.append(float(row.mean(0)[at + 1]))
        correct += int(logits.argmax().item() == c)
        sentences.append({"text": " ".join(sent), "tokens": ["[CLS]"] + [w if w in index else "[UNK]" for w in sent],
                          "words": ["[CLS]"] + sent, "ids": ids[0].tolist(), "class": c, "deciding": at + 1 if at >= 0 else -1,
                          "logits": logits[0].tolist(), "cls_attention": row.tolist()})
    acc = correct / len(sentences)
    print(f"textcls held-out: accuracy {acc:.3f}, mean share of [CLS] attention on the deciding word {np.mean(shares):.3f} "
          f"over {len(shares)} sentences with one (uniform would be {np.mean([1 / len(s['ids']) for s in sentences]):.3f})")

    first = torch.tensor([sentences[0]["ids"]])
    torch.onnx.export(model, (first,), os.path.join(a.out, "textcls.onnx"), input_names=["ids"], output_names=["logits"],
                      dynamic_axes={"ids": {1: "T"}}, opset_version=14)
    json.dump({"tokenizer": "word", "prepend": ["[CLS]"], "max_tokens": MAX_TOKENS, "classes": CLASSES,
               "tokens": tokens}, open(os.path.join(a.out, "textcls.vocab.json"), "w"))
    json.dump({"accuracy": acc, "mean_deciding_share": float(np.mean(shares)), "steps": a.cls_steps, "seed": a.seed,
               "classes": CLASSES, "sentences": sentences}, open(os.path.join(a.out, "textcls.eval.json"), "w"))
    for i, sent in enumerate(sentences[:ORT_SENTENCES]):
        np.save(os.path.join(a.out, f"textcls.eval_ids_{i}.npy"), np.array([sent["ids"]], dtype=np.int64))


if __name__ == "__main__":
    main()
