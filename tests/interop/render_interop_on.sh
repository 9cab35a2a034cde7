#!/usr/bin/env bash
# `render --input DIR --interop on`: where `info --system` says the data path is interop, it must
# render every input through it (exit 0, one PNG per input, start line naming interop); elsewhere it
# must refuse with one line naming the missing requirement and exit 1.
set -u
netlens="$1" model="$2" inputs="$3" out="$4"
rm -rf "$out" && mkdir -p "$out"
if "$netlens" info --system | grep -q '^data path: cuda-vulkan interop'; then
  "$netlens" render "$model" --input "$inputs" --out "$out/" --size 320x200 --interop on >"$out/log" 2>&1 || { cat "$out/log"; exit 1; }
  grep -q 'live: cuda backend + CUDA-Vulkan interop' "$out/log" || { cat "$out/log"; exit 1; }
  n_in=$(ls "$inputs" | wc -l) n_out=$(ls "$out"/*.png | wc -l)
  [[ "$n_out" -eq "$n_in" ]] || { echo "wrote $n_out PNGs for $n_in inputs"; exit 1; }
  echo "interop path: $n_out frames"
else
  err=$("$netlens" render "$model" --input "$inputs" --out "$out/" --size 320x200 --interop on 2>&1 >/dev/null | grep -v '^netlens: using the CPU backend')
  rc=${PIPESTATUS[0]}
  "$netlens" render "$model" --input "$inputs" --out "$out/" --size 320x200 --interop on >/dev/null 2>&1
  rc=$?
  echo "$err"
  [[ $rc -eq 1 ]] || { echo "exit status $rc, expected 1"; exit 1; }
  [[ $(printf '%s\n' "$err" | grep -c 'error') -eq 1 ]] || { echo "expected one error line"; exit 1; }
  printf '%s' "$err" | grep -q -- '--interop on: ' || { echo "the line must name --interop on and why"; exit 1; }
fi
