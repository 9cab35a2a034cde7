#!/usr/bin/env bash
# `--select` takes what `--pick` prints: pick a pixel, feed its "index": [c, y, x] back verbatim as
# TENSOR:[c, y, x], and check the frame equals the one selected as TENSOR:c,y,x and differs from
# the frame without a selection (the selection is drawn).
#   select_forms.sh NETLENS MODEL WORKDIR
set -euo pipefail
netlens=$1 model=$2 work=$3
mkdir -p "$work"
common=(--size 320x200 --view layer:y)
pick=$("$netlens" render "$model" --out "$work/none.png" "${common[@]}" --pick 160,100)
echo "pick: $pick"
tensor=$(printf '%s' "$pick" | sed -n 's/.*"tensor": "\([^"]*\)".*/\1/p')
index=$(printf '%s' "$pick" | sed -n 's/.*"index": \(\[[^]]*\]\).*/\1/p')
[ -n "$tensor" ] && [ -n "$index" ] || { echo "FAIL: --pick printed no tensor/index"; exit 1; }
"$netlens" render "$model" --out "$work/brackets.png" "${common[@]}" --select "$tensor:$index" >/dev/null
plain=$(printf '%s' "$index" | tr -d '[] ')
"$netlens" render "$model" --out "$work/plain.png" "${common[@]}" --select "$tensor:$plain" >/dev/null
cmp -s "$work/brackets.png" "$work/plain.png" || { echo "FAIL: '$tensor:$index' and '$tensor:$plain' render differently"; exit 1; }
cmp -s "$work/brackets.png" "$work/none.png" && { echo "FAIL: the selection '$tensor:$index' changed no pixel"; exit 1; }
if "$netlens" render "$model" --out "$work/bad.png" "${common[@]}" --select "$tensor:[0, 1" 2>"$work/bad.err" >/dev/null; then
  echo "FAIL: an unclosed bracket was accepted"; exit 1
fi
echo "ok: --select '$tensor:$index' == '$tensor:$plain', selection drawn; bad form refused: $(head -1 "$work/bad.err")"
