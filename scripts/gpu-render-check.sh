#!/usr/bin/env bash
# Render check on the NVIDIA GPU machine, with the bundle's binaries (scripts/gpu-bundle.sh built
# with NETLENS_VULKAN=ON): an overview render of a real model (Vulkan device chosen as on a user's
# machine: discrete first) and the render benchmark. Called by scripts/gpu-check.sh as
#   NETLENS_GPU_BUNDLE=/tmp/netlens-gpu bash scripts/gpu-render-check.sh
# Writes $OUT/gpu-check/render-overview.png, render-bench.txt and render-devices.txt.
# Exit status: 0 ok, 1 a step failed, 3 no Vulkan device (e.g. a container without the NVIDIA
# Vulkan ICD), 4 the bundle has no Vulkan build.
set -uo pipefail

root="${NETLENS_GPU_BUNDLE:-/tmp/netlens-gpu}"
bin="$root/bin"
OUT="${OUT:-$(pwd)/out}"
logs="$OUT/gpu-check"
mkdir -p "$logs"
export LD_LIBRARY_PATH="$root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
budget="${NETLENS_RENDER_BUDGET_S:-55}"
start=$(date +%s)
left() { echo $((budget - ($(date +%s) - start))); }

if ! "$bin/netlens" --help 2>/dev/null | grep -q "bench-render"; then
  echo "gpu-render-check: $bin/netlens was built without the Vulkan renderer (NETLENS_VULKAN=OFF)"
  exit 4
fi

# The NVIDIA Vulkan driver: use its ICD manifest; containers often ship the driver library
# (libGLX_nvidia.so.0) without the manifest, so write one when it is missing.
if [[ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]]; then
  icd=""
  for f in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
           /usr/share/vulkan/icd.d/nvidia_icd.x86_64.json; do
    [[ -f "$f" ]] && { icd="$f"; break; }
  done
  if [[ -z "$icd" ]] && ldconfig -p 2>/dev/null | grep -q libGLX_nvidia.so.0; then
    icd="/tmp/netlens_nvidia_icd.json"
    printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "libGLX_nvidia.so.0", "api_version": "1.3.0"}}\n' >"$icd"
    echo "gpu-render-check: no NVIDIA ICD manifest; wrote $icd"
  fi
  [[ -n "$icd" ]] && export VK_ICD_FILENAMES="$icd"
fi

# Headless containers: the GLX-based manifest can fail (the loader gets no vkCreateInstance from
# libGLX_nvidia); the same driver through libEGL_nvidia works (seen on H100/H200 with driver 580).
if ! "$bin/netlens" bench-render --neurons 1e4 --sizes 64x64 --frames 1 --no-vgg16 >/dev/null 2>&1; then
  if ldconfig -p 2>/dev/null | grep -q libEGL_nvidia.so.0; then
    printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "libEGL_nvidia.so.0", "api_version": "1.3.0"}}\n' \
      >/tmp/netlens_nvidia_egl_icd.json
    export VK_ICD_FILENAMES=/tmp/netlens_nvidia_egl_icd.json
    echo "gpu-render-check: default Vulkan driver manifest failed; using the EGL-based NVIDIA manifest"
  fi
fi

failed=0
model=""
for m in "${NETLENS_MODEL_DIR:-$root/models}/vgg16.onnx" "${NETLENS_MODEL_DIR:-$root/models}/resnet50.onnx" \
         "${NETLENS_MODEL_DIR:-$root/models}/mobilenet_v2.onnx"; do
  [[ -f "$m" ]] && { model="$m"; break; }
done

echo "=== overview render (${model:-no model found: synthetic benchmark only})"
if [[ -n "$model" ]]; then
  t0=$(date +%s%N)
  timeout -k 5 "$(( $(left) / 2 ))" "$bin/netlens" render "$model" --out "$logs/render-overview.png" --size 1920x1080 \
    --pick 960,540 >"$logs/render-overview.log" 2>&1
  rc=$?
  cat "$logs/render-overview.log"
  if grep -q "no Vulkan" "$logs/render-overview.log"; then
    echo "gpu-render-check: no Vulkan device on this machine"
    exit 3
  fi
  ((rc == 0)) || failed=1
  echo "render: rc=$rc, $(( ($(date +%s%N) - t0) / 1000000 )) ms wall (model load + run + scene + render + PNG)"
fi

echo "=== render benchmark"
timeout -k 5 "$(( $(left) > 5 ? $(left) : 5 ))" "$bin/netlens" bench-render --neurons 1e4,1e6,1e7 \
  --sizes 1280x720,1920x1080 --frames 5 >"$logs/render-bench.txt" 2>"$logs/render-bench.err"
rc=$?
tail -n 3 "$logs/render-bench.err"
sed -n '/^network/,$p' "$logs/render-bench.txt"
if grep -q "no Vulkan" "$logs/render-bench.err"; then exit 3; fi
((rc == 0)) || failed=1
exit $failed
