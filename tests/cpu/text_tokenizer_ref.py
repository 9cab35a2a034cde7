#!/usr/bin/python3
"""Independent reference for netlens' word and WordPiece tokenizers (src/io/text_words.cpp).

A hand-written Python copy of BERT's BasicTokenizer + WordpieceTokenizer (google-research/bert
tokenization.py: whitespace split, punctuation as separate tokens, control characters dropped,
lower-casing for uncased vocabularies, greedy longest-match-first with '##' pieces, the whole word
[UNK] when it has no split or has more than max_input_chars_per_word characters), restricted as
netlens documents: only ASCII punctuation splits, no accent stripping. Debian has no
`transformers`, hence this copy.

Usage: text_tokenizer_ref.py OUT_DIR
Writes OUT_DIR/word.vocab.txt and OUT_DIR/wordpiece.vocab.txt (built from GPL-3's words),
OUT_DIR/text.txt (Apache-2.0's first 4000 characters: text the vocabularies were not built from)
and OUT_DIR/ref.json {"word": [ids], "wordpiece": [ids], "wordpiece_tokens": [...]}.
"""
import collections
import json
import os
import sys

PUNCT = set(chr(c) for c in list(range(33, 48)) + list(range(58, 65)) + list(range(91, 97)) + list(range(123, 127)))


def basic_split(text, lower):
    words, cur = [], ""
    for ch in text:
        if ch in " \t\n\r":
            if cur:
                words.append(cur)
            cur = ""
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            continue
        elif ch in PUNCT:
            if cur:
                words.append(cur)
            cur = ""
            words.append(ch)
        else:
            cur += ch.lower() if lower and ord(ch) < 128 else ch
    if cur:
        words.append(cur)
    return words


def wordpiece(word, vocab, unk="[UNK]", max_chars=100):
    if len(word) > max_chars:
        return [unk]
    out, start = [], 0
    while start < len(word):
        end, cur = len(word), None
        while start < end:
            sub = word[start:end]
            if start > 0:
                sub = "##" + sub
            if sub in vocab:
                cur = sub
                break
            end -= 1
        if cur is None:
            return [unk]
        out.append(cur)
        start = end
    return out


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    train = open("/usr/share/common-licenses/GPL-3", encoding="utf-8").read()
    counts = collections.Counter(basic_split(train, True))
    word_vocab = ["[UNK]"] + sorted(w for w, c in counts.items() if c >= 2)
    pieces = set()
    for w, c in counts.items():
        if c >= 6:
            pieces.add(w)
        for ch in w:
            pieces.add(ch)
            pieces.add("##" + ch)
        if c >= 3:
            for k in (2, 3, 4):
                if len(w) > k:
                    pieces.add("##" + w[-k:])
                    pieces.add(w[:k])
    pieces.discard("[UNK]")
    wp_vocab = ["[UNK]"] + sorted(pieces)
    with open(os.path.join(out, "word.vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(word_vocab) + "\n")
    with open(os.path.join(out, "wordpiece.vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(wp_vocab) + "\n")
    text = open("/usr/share/common-licenses/Apache-2.0", encoding="utf-8").read()[:4000]
    with open(os.path.join(out, "text.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    wi = {w: i for i, w in enumerate(word_vocab)}
    pi = {w: i for i, w in enumerate(wp_vocab)}
    words = basic_split(text, True)
    toks = [p for w in words for p in wordpiece(w, pi)]
    ref = {"word": [wi.get(w, 0) for w in words], "wordpiece": [pi[t] for t in toks], "wordpiece_tokens": toks,
           "word_unknown": sum(1 for w in words if w not in wi), "wordpiece_unknown": toks.count("[UNK]")}
    json.dump(ref, open(os.path.join(out, "ref.json"), "w"))


if __name__ == "__main__":
    main()
