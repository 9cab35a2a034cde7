#!/usr/bin/env bash
# The renderer's part of the main job (called by scripts/demo.sh): PP-OCRv4 text detection on a
# rendered text page, shown in 3D. With a display, opens the interactive viewer (`netlens view`);
# without one, renders an overview and a close-up of the output probability map (where the model
# sees text) to out/demo/overview.png and out/demo/closeup.png and prints their paths.
# usage: scripts/demo-render.sh [NETLENS]   (default: the build's netlens)
# env:   NETLENS_DEMO_OFFSCREEN=1 renders the PNGs even when a display is available.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
netlens="${1:-}"
if [ -z "$netlens" ]; then
  for c in build/netlens build/src/cli/netlens; do
    if [ -x "$c" ]; then netlens="$c"; break; fi
  done
fi
if [ -z "$netlens" ] || [ ! -x "$netlens" ]; then
  echo "demo-render: no netlens binary (build it, or pass its path)" >&2
  exit 1
fi
model=.cache/models/ppocrv4_det.onnx
image=assets/samples/page_800x608.png
[ -f "$model" ] || { echo "demo-render: $model is missing (run scripts/fetch-models.sh)" >&2; exit 1; }
pp=(--input "$image" --bgr --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)
closeup_layer=sigmoid_0.tmp_0  # the text probability map: the page's text lines light up

if [ "${NETLENS_DEMO_OFFSCREEN:-0}" != 1 ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; }; then
  echo "demo-render: opening the viewer (drag to orbit, F to focus a layer, click a neuron, Esc, O overview)"
  if "$netlens" view "$model" "${pp[@]}" --title "PP-OCRv4 text detection"; then
    exit 0
  fi
  echo "demo-render: the viewer could not run; rendering offscreen instead" >&2
fi

mkdir -p out/demo
"$netlens" render "$model" "${pp[@]}" --quiet --size 1920x1080 --title "PP-OCRv4 text detection" \
  --out out/demo/overview.png
"$netlens" render "$model" "${pp[@]}" --quiet --size 1920x1080 --title "PP-OCRv4 text detection: text probability" \
  --view "layer:$closeup_layer" --out out/demo/closeup.png
echo "$repo/out/demo/overview.png"
echo "$repo/out/demo/closeup.png"
