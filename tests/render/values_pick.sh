#!/usr/bin/env bash
# `render --values gradient|attribution` colours the same volumes by dS/d(neuron) (and by it times
# the activation): the value --pick reads at a pixel must be the gradient that `infer --dump
# --gradients` writes for that neuron (an independent path: the dump goes through no layout, scene
# or renderer), and the attribution the product of the dumped gradient and activation. Tolerance:
# 1e-6 relative (both are the same float32 numbers; the pick prints 9 significant digits).
#   values_pick.sh NETLENS MODEL IMAGE LAYER WORKDIR
set -euo pipefail
netlens=$1 model=$2 image=$3 layer=$4 work=$5
rm -rf "$work" && mkdir -p "$work"
"$netlens" infer "$model" --input "$image" --dump "$work/dump" --all --gradients >/dev/null
for mode in gradient attribution; do
  for xy in 320,200 300,190 345,215; do
    pick=$("$netlens" render "$model" --input "$image" --values "$mode" --view "layer:$layer" --size 640x400 \
             --out "$work/$mode.png" --pick "$xy" 2>/dev/null)
    echo "$mode $xy: $pick"
    /usr/bin/python3 - "$work/dump" "$mode" "$pick" <<'PY'
import json, sys
import numpy as np
dump, mode, pick = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if pick.get("tensor") is None:
    sys.exit("FAIL: the pick hit no neuron")
name, idx = pick["tensor"], tuple(pick["tensor_index"])
gi = json.load(open(f"{dump}/gradients/index.json"))
ai = json.load(open(f"{dump}/index.json"))
g = np.load(f"{dump}/gradients/{gi[name]['file']}").astype(np.float64)[idx]
a = np.load(f"{dump}/{ai[name]['file']}").astype(np.float64)[idx]
want = g if mode == "gradient" else g * a
got = float(pick["value"])
tol = 1e-6 * max(abs(want), 1e-30) + 1e-30
print(f"  {name}{list(idx)}: shown {got:.9g}, dumped {want:.9g}")
if abs(got - want) > tol:
    sys.exit(f"FAIL: {mode} shown {got} but the dump gives {want}")
PY
  done
done
# A gradient mode without gradients' inputs is refused in one line, not drawn as activations.
if "$netlens" render "$model" --input "$image" --target class:0 --out "$work/x.png" 2>"$work/err"; then
  echo "FAIL: --target without --values gradient was accepted"; exit 1
fi
echo "ok: picked values equal the dumped gradients and gradient x activation; $(head -1 "$work/err")"
