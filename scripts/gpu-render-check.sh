#!/usr/bin/env bash
# Render check on the NVIDIA GPU machine, with the bundle's binaries (scripts/gpu-bundle.sh built
# with NETLENS_VULKAN=ON) and the references in .gpu-vk/ (made here with lavapipe, see below).
# Called by scripts/gpu-check.sh, from the repo root, as
#   NETLENS_GPU_BUNDLE=/tmp/netlens-gpu bash scripts/gpu-render-check.sh
# Steps, each under `timeout` within NETLENS_RENDER_BUDGET_S (default 100 s):
#   1. Vulkan validation (Debian's VK_LAYER_KHRONOS_validation carried in .gpu-vk/) on a real model:
#      any "Vulkan validation error" fails the check.
#   2. GPU vs lavapipe: the views rendered here with lavapipe (.gpu-vk/refs, same model, input
#      image, camera JSON, size, --backend cpu) rendered again on the GPU and compared pixel by
#      pixel (python3 + numpy + PIL) -> render-compare.txt.
#   3. Real models (VGG-16/ResNet-50/MobileNetV2 from $NETLENS_MODEL_DIR, PP-OCR det/rec/cls from
#      the bundle): overviews and a ResNet-50 close-up at 1920x1080, wall time of each render.
#   4. The render benchmark: 10^4..10^7 at 1280x720 and 1920x1080, then 10^8 at 1920x1080.
# Writes $OUT/gpu-check/: render-validation.log, render-compare.txt, render-models.txt,
# render-<model>-overview.png, render-<model>-closeup.png, render-bench.txt, render-bench-1e8.txt.
# Exit status: 0 ok, 1 a step failed, 3 no Vulkan device (e.g. a container without the NVIDIA
# Vulkan ICD), 4 the bundle has no Vulkan build.
#
# Making the references (here, on the Debian machine with lavapipe; python3-numpy/python3-pil):
#   scripts/gpu-bundle.sh && NETLENS_PYTHON=/usr/bin/python3 bash scripts/gpu-render-check.sh --make-refs
# (renders with the bundle's own netlens, so rerun it whenever the bundle is rebuilt; the GPU side
# fails the comparison when .gpu-vk/refs/BUNDLE differs from the bundle's MANIFEST)
# writes .gpu-vk/ (layer, refs, inputs, cameras) and runs the comparison's controls: renders that
# must agree (a sub-pixel camera nudge) and ones that must not (another model, a 2-degree camera
# turn, a wrong colour map, a missing slab) -> .gpu-vk/compare-controls.txt; fails if one misjudges.
#
# Testing this script without an NVIDIA GPU: NETLENS_RENDER_NO_NVIDIA=1 skips the NVIDIA ICD setup
# so the loader's default device (lavapipe) stands in; NETLENS_GPU_BUNDLE may point at a folder with
# bin/netlens and models/.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vk="${NETLENS_GPU_VK:-$here/.gpu-vk}"
OUT="${OUT:-$(pwd)/out}"
py="${NETLENS_PYTHON:-python3}"  # needs numpy and PIL
tmp="$(mktemp -d /tmp/netlens-render-check.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

# Views compared between lavapipe and the GPU: name model input view size. Small enough to keep
# .gpu-vk/ a few MB; CPU backend on both sides so the activations are bit-identical.
compare_views=(
  "det-overview ppocrv4_det.onnx page_800x608.png overview 1280x720"
  "det-closeup ppocrv4_det.onnx page_800x608.png layer:p2o.Mul.47 1280x720"
  "rec-overview ppocrv4_rec.onnx line_320x48.png overview 1280x720"
  "cls-overview ppocr_cls.onnx line_192x48.png overview 1280x720"
)

# The comparison (python3 + numpy + PIL, present on the GPU machine). Pixel difference d = the
# largest of |R|,|G|,|B| differences (0..255). An image pair agrees when
#   mean |difference| over all channels <= MAD_MAX (in 1/255 units),
#   the fraction of pixels with d > 8 <= FRAC_MAX, and
#   no 32x32 tile has more than TILE_MAX of its pixels with d > 8
# Rasterisation/filtering differences between two conformant drivers move edge pixels, scattered
# over the image; a wrong colour map moves most coloured pixels (MAD, fraction); a missing or
# displaced layer or label leaves a solid block of different pixels (tile). Thresholds are chosen
# from the controls in .gpu-vk/compare-controls.txt.
cat >"$tmp/compare.py" <<'PY'
import sys
import numpy as np
from PIL import Image

MAD_MAX, FRAC_MAX, TILE_MAX, TILE = 1.5, 0.03, 0.5, 32

def load(p):
    return np.asarray(Image.open(p).convert("RGB"), dtype=np.int16)

def measure(a, b):
    if a.shape != b.shape:
        return None
    diff = np.abs(a - b)
    d = diff.max(axis=2)
    big = d > 8
    h, w = big.shape
    th, tw = h // TILE, w // TILE
    tiles = big[: th * TILE, : tw * TILE].reshape(th, TILE, tw, TILE).mean(axis=(1, 3))
    return {"mad": float(diff.mean()), "frac8": float(big.mean()), "tile": float(tiles.max()),
            "max": int(d.max())}

def verdict(m):
    if m is None:
        return False, "size differs"
    bad = []
    if m["mad"] > MAD_MAX: bad.append("mean diff")
    if m["frac8"] > FRAC_MAX: bad.append("pixels > 8/255")
    if m["tile"] > TILE_MAX: bad.append("a 32x32 block")
    return not bad, ", ".join(bad) or "agree"

def line(name, m, ok, why):
    if m is None:
        return f"{name:28s} {'DIFFER':7s} ({why})"
    return (f"{name:28s} {'agree' if ok else 'DIFFER':7s} mean|d| {m['mad']:6.3f}/255  >8/255 {100*m['frac8']:6.3f}%  "
            f"worst 32x32 tile {100*m['tile']:5.1f}%  max {m['max']:3d}  ({why})")

def perturbed(a, kind):
    b = a.copy()
    if kind == "colourmap":  # red and blue swapped: a wrong colour map
        b = b[:, :, ::-1].copy()
    elif kind == "missing-slab":  # the most detailed 64x64 block painted with the background colour
        bg = np.median(a.reshape(-1, 3), axis=0).astype(np.int16)
        h, w, _ = a.shape
        best, at = -1.0, (0, 0)
        for y in range(0, h - 64, 32):
            for x in range(0, w - 64, 32):
                s = float(np.abs(a[y:y+64, x:x+64] - bg).mean())
                if s > best: best, at = s, (y, x)
        y, x = at
        b[y:y+64, x:x+64] = bg
    return b

def main():
    # compare.py OUT_TXT [--expect agree|differ] NAME A B [NAME A B ...]; NAME A @perturbation
    out, args = sys.argv[1], sys.argv[2:]
    expect = None
    if args[:1] == ["--expect"]:
        expect, args = args[1], args[2:]
    lines, ok_all = [], True
    for i in range(0, len(args), 3):
        name, pa, pb = args[i:i+3]
        try:
            a = load(pa)
            b = perturbed(a, pb[1:]) if pb.startswith("@") else load(pb)
            m = measure(a, b)
            ok, why = verdict(m)
        except Exception as e:  # a missing or unreadable PNG is a failed comparison, not a crash
            m, ok, why = None, False, f"cannot compare: {e}"
        lines.append(line(name, m, ok, why))
        if expect is None: ok_all &= ok
        else: ok_all &= ok == (expect == "agree")
    head = (f"# agree when mean|d| <= {MAD_MAX}/255, pixels with d > 8/255 <= {100*FRAC_MAX}%, "
            f"and no {TILE}x{TILE} tile has > {100*TILE_MAX:.0f}% of such pixels (d = max over RGB)")
    if expect: head += f"\n# expected: {expect}"
    with open(out, "a") as f:
        f.write(head + "\n" + "\n".join(lines) + "\n")
    print(head); print("\n".join(lines))
    sys.exit(0 if ok_all else 1)

main()
PY

# ------------------------------------------------------------------------------------------------
# --make-refs: here, with lavapipe.
if [[ "${1:-}" == "--make-refs" ]]; then
  set -e
  # The references must come from the same renderer as the GPU run: by default the netlens of
  # .gpu/bundle.tar.xz itself (it runs here: --backend cpu needs no CUDA driver); NETLENS_BIN
  # overrides (then the GPU side cannot tell whether the bundle matches).
  if [[ -n "${NETLENS_BIN:-}" ]]; then
    bin="$NETLENS_BIN"
    echo "NETLENS_BIN=$bin (not a bundle)" >"$tmp/BUNDLE"
  else
    [[ -f "$here/.gpu/bundle.tar.xz" ]] || { echo "gpu-render-check: no .gpu/bundle.tar.xz (run scripts/gpu-bundle.sh) and no NETLENS_BIN"; exit 1; }
    tar -xJf "$here/.gpu/bundle.tar.xz" -C "$tmp" netlens-gpu/bin/netlens netlens-gpu/lib netlens-gpu/MANIFEST
    bin="$tmp/netlens-gpu/bin/netlens"
    export LD_LIBRARY_PATH="$tmp/netlens-gpu/lib:/usr/local/cuda/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    head -n 2 "$tmp/netlens-gpu/MANIFEST" >"$tmp/BUNDLE"
  fi
  "$bin" --help 2>/dev/null | grep -q bench-render || { echo "gpu-render-check: $bin has no Vulkan renderer"; exit 1; }
  models="${NETLENS_REF_MODELS:-$here/.cache/models}"
  layer_so="$(dpkg -L vulkan-validationlayers | grep 'libVkLayer_khronos_validation.so$')"
  mkdir -p "$vk/refs" "$vk/inputs" "$vk/layer"
  git_dir="$(git -C "$here" rev-parse --git-dir 2>/dev/null || true)"
  if [[ -n "$git_dir" ]]; then
    [[ "$git_dir" = /* ]] || git_dir="$here/$git_dir"
    grep -qxF '/.gpu-vk/' "$git_dir/info/exclude" 2>/dev/null || echo '/.gpu-vk/' >>"$git_dir/info/exclude"
  fi
  # The layer: ~21 MB, xz brings it to ~4.3 MB. Its manifest names it relative to the JSON's folder.
  if [[ ! -f "$vk/layer/libVkLayer_khronos_validation.so.xz" || "$layer_so" -nt "$vk/layer/libVkLayer_khronos_validation.so.xz" ]]; then
    xz -9 -T2 -c "$layer_so" >"$vk/layer/libVkLayer_khronos_validation.so.xz"
  fi
  sed 's#"library_path": *"[^"]*"#"library_path": "./libVkLayer_khronos_validation.so"#' \
    /usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json >"$vk/layer/VkLayer_khronos_validation.json"
  {
    echo "vulkan-validationlayers $(dpkg-query -W -f '${Version}' vulkan-validationlayers) (Debian 12)"
    echo "needs: $(objdump -T "$layer_so" | grep -o 'GLIBC_[0-9.]*\|GLIBCXX_[0-9.]*' | sort -Vu | awk -F_ '{v[$1]=$0} END {print v["GLIBC"], v["GLIBCXX"]}')"
    ldd "$layer_so"
  } >"$vk/layer/DEPS.txt"
  : >"$vk/refs/MANIFEST"
  rm -f "$vk/refs/DEVICE"
  cp "$tmp/BUNDLE" "$vk/refs/BUNDLE"
  for v in "${compare_views[@]}"; do
    read -r name model input view size <<<"$v"
    cp "$here/assets/samples/$input" "$vk/inputs/$input"
    echo "$name: $model $(sha256sum "$models/$model" | cut -c1-16) $input $view $size"
    vflag=(--view "$view")
    "$bin" render "$models/$model" --input "$vk/inputs/$input" --backend cpu --size "$size" "${vflag[@]}" \
      --out "$vk/refs/$name.png" --save-camera "$vk/refs/$name.json" --title "$name" >"$tmp/$name.log" 2>&1 ||
      { cat "$tmp/$name.log"; exit 1; }
    echo "$name $model $(sha256sum "$models/$model" | cut -d' ' -f1) $input $size" >>"$vk/refs/MANIFEST"
  done
  grep -h 'Vulkan device' "$tmp"/*.log | head -1 | sed 's/^netlens: Vulkan device [0-9]*: //' >"$vk/refs/DEVICE"
  # Controls: renders of the same view with a camera nudged by 0.01 degree (sub-pixel here) must
  # agree; a 2-degree turn, another model, a wrong colour map and a missing slab must not.
  yaw() { "$py" -c "import json,sys; c=json.load(open(sys.argv[1])); c['yaw_deg']+=float(sys.argv[2]); print(json.dumps(c))" "$1" "$2"; }
  yaw "$vk/refs/det-overview.json" 0.01 >"$tmp/nudge.json"
  yaw "$vk/refs/det-overview.json" 2 >"$tmp/turn.json"
  for c in nudge turn; do
    "$bin" render "$models/ppocrv4_det.onnx" --input "$vk/inputs/page_800x608.png" --backend cpu --size 1280x720 \
      --camera "$tmp/$c.json" --out "$tmp/$c.png" --title det-overview >/dev/null 2>&1
  done
  "$bin" render "$models/ppocrv4_det.onnx" --input "$vk/inputs/page_800x608.png" --backend cpu --size 1280x720 \
    --camera "$vk/refs/det-overview.json" --out "$tmp/again.png" --title det-overview >/dev/null 2>&1
  "$bin" render "$models/ppocrv4_det.onnx" --input "$vk/inputs/page_800x608.png" --backend cpu --size 1280x720 \
    --camera "$vk/refs/det-overview.json" --out "$tmp/lodmean.png" --title det-overview --lod-mean >/dev/null 2>&1
  r="$vk/refs"
  : >"$vk/compare-controls.txt"
  set +e
  "$py" "$tmp/compare.py" "$vk/compare-controls.txt" --expect agree \
    "same view rendered again" "$r/det-overview.png" "$tmp/again.png" \
    "camera nudged 0.01 deg" "$r/det-overview.png" "$tmp/nudge.png"
  a=$?
  "$py" "$tmp/compare.py" "$vk/compare-controls.txt" --expect differ \
    "camera turned 2 deg" "$r/det-overview.png" "$tmp/turn.png" \
    "other model (rec vs det)" "$r/det-overview.png" "$r/rec-overview.png" \
    "other model (cls vs rec)" "$r/rec-overview.png" "$r/cls-overview.png" \
    "mean instead of max LOD" "$r/det-overview.png" "$tmp/lodmean.png" \
    "wrong colour map (R<->B)" "$r/det-overview.png" "@colourmap" \
    "wrong colour map, close-up" "$r/det-closeup.png" "@colourmap" \
    "missing slab (64x64)" "$r/det-overview.png" "@missing-slab" \
    "missing slab, cls" "$r/cls-overview.png" "@missing-slab"
  b=$?
  du -sh "$vk"
  ((a == 0 && b == 0)) || { echo "gpu-render-check: a control was misjudged (see $vk/compare-controls.txt)"; exit 1; }
  echo "gpu-render-check: references and controls in $vk"
  exit 0
fi

# ------------------------------------------------------------------------------------------------
# The GPU check.
root="${NETLENS_GPU_BUNDLE:-/tmp/netlens-gpu}"
bin="$root/bin"
logs="$OUT/gpu-check"
mkdir -p "$logs"
export LD_LIBRARY_PATH="$root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
budget="${NETLENS_RENDER_BUDGET_S:-100}"
start=$(date +%s)
left() { echo $((budget - ($(date +%s) - start))); }
# lim MAX: a timeout of at most MAX seconds that leaves `reserve` seconds for the later steps.
# NETLENS_RENDER_TIME_SCALE multiplies the caps (e.g. 10 when lavapipe on a small CPU stands in).
scale="${NETLENS_RENDER_TIME_SCALE:-1}"
lim() { local l=$(($(left) - ${2:-0} * scale)) m=$(($1 * scale)); ((l > m)) && l=$m; ((l < 1)) && l=1; echo "$l"; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
failed=0
summary=()
note() { summary+=("$(printf '%-34s %s' "$1" "$2")"); }

if ! "$bin/netlens" --help 2>/dev/null | grep -q "bench-render"; then
  echo "gpu-render-check: $bin/netlens was built without the Vulkan renderer (NETLENS_VULKAN=OFF)"
  exit 4
fi

if [[ -z "${NETLENS_RENDER_NO_NVIDIA:-}" ]]; then
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
  if ! timeout 20 "$bin/netlens" bench-render --neurons 1e4 --sizes 64x64 --frames 1 --no-vgg16 >/dev/null 2>&1; then
    if ldconfig -p 2>/dev/null | grep -q libEGL_nvidia.so.0; then
      printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "libEGL_nvidia.so.0", "api_version": "1.3.0"}}\n' \
        >/tmp/netlens_nvidia_egl_icd.json
      export VK_ICD_FILENAMES=/tmp/netlens_nvidia_egl_icd.json
      echo "gpu-render-check: default Vulkan driver manifest failed; using the EGL-based NVIDIA manifest"
    fi
  fi
else
  echo "gpu-render-check: NETLENS_RENDER_NO_NVIDIA set: the loader's default Vulkan device stands in"
fi
if ! timeout 20 "$bin/netlens" bench-render --neurons 1e4 --sizes 64x64 --frames 1 --no-vgg16 >"$logs/render-devices.txt" 2>&1; then
  cat "$logs/render-devices.txt"
  echo "gpu-render-check: no working Vulkan device on this machine"
  exit 3
fi
grep -h '^device:' "$logs/render-devices.txt"

# Models: the torchvision exports (gpu-check puts them in $NETLENS_MODEL_DIR) and the bundle's PP-OCR.
find_model() {
  local d
  for d in "${NETLENS_MODEL_DIR:-}" "$root/models"; do
    [[ -n "$d" && -f "$d/$1" ]] && { echo "$d/$1"; return 0; }
  done
  return 1
}

# ---- 1. validation layer on the GPU -----------------------------------------------------------
echo "=== validation (VK_LAYER_KHRONOS_validation from .gpu-vk/layer)"
layer_dir="$tmp/layer"
mkdir -p "$layer_dir"
vmodel="$(find_model ppocr_cls.onnx)"
if [[ ! -f "$vk/layer/libVkLayer_khronos_validation.so.xz" ]]; then
  echo "gpu-render-check: $vk/layer missing (make it with --make-refs and carry .gpu-vk)"
  note validation "MISSING .gpu-vk/layer"; failed=1
elif [[ -z "$vmodel" ]]; then
  note validation "MISSING ppocr_cls.onnx"; failed=1
else
  xz -dc "$vk/layer/libVkLayer_khronos_validation.so.xz" >"$layer_dir/libVkLayer_khronos_validation.so"
  cp "$vk/layer/VkLayer_khronos_validation.json" "$layer_dir/"
  ldd "$layer_dir/libVkLayer_khronos_validation.so" >"$logs/render-validation-ldd.txt" 2>&1
  vlog="$logs/render-validation.log"
  t0=$(date +%s%N)
  # cls (small) with --pick, which exercises the ID-buffer readback as well as the frame.
  VK_LAYER_PATH="$layer_dir" timeout -k 5 "$(lim 15 30)" "$bin/netlens" render "$vmodel" \
    --input "$vk/inputs/line_192x48.png" --backend cpu --size 1280x720 --validation --pick 640,360 \
    --out "$tmp/validation.png" >"$vlog" 2>&1
  rc=$?
  dt=$(ms_since "$t0")
  nerr=$(grep -c 'Vulkan validation error' "$vlog")
  nwarn=$(grep -c 'Vulkan validation warning' "$vlog")
  grep -m 5 'Vulkan validation\|error' "$vlog"
  if grep -q 'not found' "$logs/render-validation-ldd.txt"; then
    echo "gpu-render-check: the validation layer's libraries don't resolve:"; grep 'not found' "$logs/render-validation-ldd.txt"
  fi
  if ((rc == 0 && nerr == 0)); then
    note validation "ok: ppocr_cls, 0 errors, $nwarn warnings, ${dt} ms"
  else
    note validation "FAILED: rc=$rc, $nerr errors, $nwarn warnings (render-validation.log)"; failed=1
  fi
fi

# ---- 1b. CUDA↔Vulkan interop: what the machine offers, sharing tests, latency interop on/off -------
# Tests run with the validation layer when .gpu-vk carried it, else without (NETLENS_TEST_NO_VALIDATION).
if [[ -f "$layer_dir/VkLayer_khronos_validation.json" ]]; then export VK_LAYER_PATH="$layer_dir"; else export NETLENS_TEST_NO_VALIDATION=1; fi
"$bin/netlens" info --system >"$logs/system.txt" 2>&1
cat "$logs/system.txt"
note "data path" "$(grep '^data path' "$logs/system.txt" | head -1)"
if [[ -x "$bin/netlens_interop_cuda_tests" ]]; then
  echo "=== interop tests"
  if timeout -k 5 "$(lim 60 40)" "$bin/netlens_interop_cuda_tests" >"$logs/interop-tests.log" 2>&1; then
    note "interop tests" "ok: $(grep -c '^\[       OK \]' "$logs/interop-tests.log") passed, $(grep -h '^interop:' "$logs/interop-tests.log")"
  else
    failed=1
    note "interop tests" "FAILED (interop-tests.log)"
  fi
  tail -n 15 "$logs/interop-tests.log"
  if m="$(find_model resnet50.onnx)"; then
    echo "=== interop bench (resnet50)"
    timeout -k 5 "$(lim 60 30)" "$bin/netlens_interop_bench" "$m" --runs 30 >"$logs/interop-bench.txt" 2>&1
    rc=$?
    cat "$logs/interop-bench.txt"
    if ((rc == 77)); then note "interop bench" "skipped: $(head -1 "$logs/interop-bench.txt")"
    elif ((rc != 0)); then failed=1; note "interop bench" "FAILED rc=$rc (interop-bench.txt)"
    else note "interop bench" "$(grep -h 'faster end to end' "$logs/interop-bench.txt")"; fi
  fi
fi
# The GPU's reductions (CodeBuilder) on real division hardware, PP-OCR det at the demo's size.
if [[ -x "$bin/netlens_code_builder_tests" ]]; then
  echo "=== code builder (GPU reductions vs the CPU's, bit for bit)"
  if NETLENS_CODES_DET_SIZE=800x608 timeout -k 5 "$(lim 60 30)" "$bin/netlens_code_builder_tests" >"$logs/code-builder.log" 2>&1; then
    note "code builder" "ok: $(grep -c '^\[       OK \]' "$logs/code-builder.log") passed"
  else
    failed=1; note "code builder" "FAILED (code-builder.log)"
  fi
  grep -h 'ms' "$logs/code-builder.log" | grep -iv '^\[' | tail -n 6
fi
unset VK_LAYER_PATH NETLENS_TEST_NO_VALIDATION

# ---- 2. GPU vs lavapipe -----------------------------------------------------------------------
echo "=== GPU vs lavapipe references (.gpu-vk/refs)"
cmp_txt="$logs/render-compare.txt"
{
  echo "# GPU vs lavapipe: each view rendered here by $(grep -h '^device:' "$logs/render-devices.txt" | head -1)"
  echo "# and by $(cat "$vk/refs/DEVICE" 2>/dev/null || echo 'lavapipe (refs missing)') when .gpu-vk was made ($(head -1 "$vk/refs/BUNDLE" 2>/dev/null));"
  echo "# same model file (sha256 checked), input image, camera JSON, size, --backend cpu."
} >"$cmp_txt"
if [[ ! -f "$vk/refs/MANIFEST" ]]; then
  echo "gpu-render-check: $vk/refs missing" | tee -a "$cmp_txt"
  note compare "MISSING .gpu-vk/refs"; failed=1
elif ! "$py" -c "import numpy, PIL" 2>/dev/null; then
  echo "gpu-render-check: python3 numpy/PIL missing" | tee -a "$cmp_txt"
  note compare "FAILED: no numpy/PIL"; failed=1
else
  pairs=()
  mismatch=""
  # Refs from another bundle would compare two renderer versions (a layout change is a real
  # difference), so that is a failure with its own message.
  if ! head -n 2 "$root/MANIFEST" 2>/dev/null | cmp -s - "$vk/refs/BUNDLE"; then
    echo "refs made with: $(head -1 "$vk/refs/BUNDLE" 2>/dev/null); this bundle: $(head -1 "$root/MANIFEST" 2>/dev/null)" | tee -a "$cmp_txt"
    mismatch+=" STALE-refs(rerun --make-refs after gpu-bundle.sh)"
  fi
  while read -r name model sha input size; do
    m="$(find_model "$model")"
    if [[ -z "$m" ]]; then mismatch+=" $name(no $model)"; continue; fi
    if [[ "$(sha256sum "$m" | cut -d' ' -f1)" != "$sha" ]]; then mismatch+=" $name($model differs)"; continue; fi
    t0=$(date +%s%N)
    timeout -k 5 "$(lim 10 25)" "$bin/netlens" render "$m" --input "$vk/inputs/$input" --backend cpu --size "$size" \
      --camera "$vk/refs/$name.json" --title "$name" --out "$logs/render-gpu-$name.png" >"$tmp/cmp-$name.log" 2>&1
    rc=$?
    echo "$name: render rc=$rc, $(ms_since "$t0") ms wall" | tee -a "$cmp_txt"
    ((rc == 0)) || { tail -n 3 "$tmp/cmp-$name.log"; mismatch+=" $name(render rc=$rc)"; }
    pairs+=("$name" "$vk/refs/$name.png" "$logs/render-gpu-$name.png")
  done <"$vk/refs/MANIFEST"
  "$py" "$tmp/compare.py" "$cmp_txt" "${pairs[@]}"
  rc=$?
  [[ -n "$mismatch" ]] && echo "not compared:$mismatch" | tee -a "$cmp_txt"
  # The GPU's PNGs stay in $OUT only when something differs (they are what one looks at then).
  ((rc == 0)) && rm -f "$logs"/render-gpu-*.png
  if ((rc == 0)) && [[ -z "$mismatch" ]]; then note compare "ok: $(( ${#pairs[@]} / 3 )) views agree (render-compare.txt)"
  else note compare "FAILED (render-compare.txt)${mismatch:+:$mismatch}"; failed=1; fi
fi

# ---- 3. real models at 1920x1080 --------------------------------------------------------------
echo "=== real models, 1920x1080 (wall time of netlens render: load + run + scene + frame + PNG)"
models_txt="$logs/render-models.txt"
{
  echo "# netlens render MODEL --size 1920x1080 (default backend); wall ms = the whole command: model load,"
  echo "# inference, scene build, upload, one frame, readback, PNG encode (render has no per-frame timer)"
  printf '%-16s %-26s %9s  %s\n' model view "wall ms" "log (errors, --pick)"
} >"$models_txt"
nmodels=0
render_model() {  # render_model NAME MODEL VIEW-ARGS...
  local name="$1" m="$2" view="$3"
  shift 3
  local t0 rc
  t0=$(date +%s%N)
  timeout -k 5 "$(lim 15 18)" "$bin/netlens" render "$m" --size 1920x1080 --out "$logs/render-$name-$view.png" "$@" \
    >"$tmp/$name-$view.log" 2>&1
  rc=$?
  local dt
  dt=$(ms_since "$t0")
  local status="$view"
  ((rc == 0)) || status="$view FAILED rc=$rc"
  printf '%-16s %-26s %9s  %s\n' "$name" "$status" "$dt" \
    "$(grep -v 'Vulkan device\|using the CPU backend' "$tmp/$name-$view.log" | head -c 160 | tr '\n' ' ')" | tee -a "$models_txt"
  ((rc == 0)) || failed=1
  nmodels=$((nmodels + 1))
  return $rc
}
for name in vgg16 resnet50 mobilenet_v2 ppocrv4_det ppocrv4_rec ppocr_cls; do
  m="$(find_model "$name.onnx")" || { echo "$name: not found" | tee -a "$models_txt"; continue; }
  (($(left) > 25 * scale)) || { echo "$name: skipped, out of time" | tee -a "$models_txt"; failed=1; continue; }
  in=()  # PP-OCR inputs have dynamic sizes: the compared views' sample images
  case "$name" in
    ppocrv4_det) in=(--input "$vk/inputs/page_800x608.png") ;;
    ppocrv4_rec) in=(--input "$vk/inputs/line_320x48.png") ;;
    ppocr_cls) in=(--input "$vk/inputs/line_192x48.png") ;;
  esac
  render_model "$name" "$m" overview "${in[@]}"
done
# A close-up: ResNet-50 focused on its 6th shown tensor (the name comes from the renderer's own
# list of shown tensors, printed when --view names none). PP-OCR det's close-up is timed in
# render-compare.txt (1280x720); a second det run here would not fit the budget.
if m="$(find_model resnet50.onnx)" && (($(left) > 25 * scale)); then
  shown="$(timeout "$(lim 15 10)" "$bin/netlens" render "$m" --view layer:/ --size 64x64 --out "$tmp/x.png" 2>&1 |
    sed -n 's/.*(shown: \(.*\)).*/\1/p' | head -1)"
  layer="$(echo "$shown" | tr ',' '\n' | sed 's/^ *//' | grep -v '^\.\.\.$' | sed -n 6p)"
  if [[ -n "$layer" ]]; then render_model resnet50 "$m" "closeup" --view "layer:$layer"
  else echo "resnet50 close-up: no tensor name from the renderer" | tee -a "$models_txt"; fi
fi
note "real models" "$nmodels renders at 1920x1080 (render-models.txt)"

# ---- 4. render benchmark ------------------------------------------------------------------------
echo "=== render benchmark"
timeout -k 5 "$(lim 15 18)" "$bin/netlens" bench-render --neurons 1e4,1e6,1e7 \
  --sizes 1280x720,1920x1080 --frames 5 >"$logs/render-bench.txt" 2>"$logs/render-bench.err"
rc=$?
tail -n 3 "$logs/render-bench.err"
sed -n '/^network/,$p' "$logs/render-bench.txt"
if ((rc == 0)); then note "bench 1e4..1e7" "ok (render-bench.txt)"; else note "bench 1e4..1e7" "FAILED rc=$rc"; failed=1; fi

echo "=== render benchmark, 10^8 activations at 1920x1080"
if (($(left) > 8 * scale)); then
  timeout -k 5 "$(lim 40)" "$bin/netlens" bench-render --neurons 1e8 --no-vgg16 --sizes 1920x1080 --frames 5 \
    >"$logs/render-bench-1e8.txt" 2>"$logs/render-bench-1e8.err"
  rc=$?
  tail -n 3 "$logs/render-bench-1e8.err"
  sed -n '/^network/,$p' "$logs/render-bench-1e8.txt"
  if ((rc == 0)); then note "bench 1e8" "ok (render-bench-1e8.txt)"
  elif ((rc == 124 || rc == 137)); then note "bench 1e8" "TIMEOUT"; failed=1
  else note "bench 1e8" "FAILED rc=$rc"; failed=1; fi
else
  note "bench 1e8" "SKIPPED: out of time"; failed=1
fi

# ---- 5. 4K60 recording (issue 16: real time or faster on a GPU) --------------------------------------
# netlens record of ResNet-50's default tour at 3840x2160, 60 fps, 120 frames (2 s of video): its
# summary line gives frames/s (render + readback + caption + H.264 encode); >= 60 is real time.
echo "=== record 3840x2160 at 60 fps"
if ! "$bin/netlens" --help 2>/dev/null | grep -q "record"; then
  note "record 4K60" "SKIPPED: this netlens has no record (built without libavcodec)"
elif m="$(find_model resnet50.onnx)" && (($(left) > 20 * scale)); then
  timeout -k 5 "$(lim 60)" "$bin/netlens" record "$m" --input "$vk/inputs/page_800x608.png" --size 3840x2160 --fps 60 \
    --max-frames 120 --out "$tmp/record-4k60.mp4" >"$logs/record-4k60.txt" 2>&1
  rc=$?
  fps_line="$(grep 'frames/s' "$logs/record-4k60.txt" | tail -1)"
  echo "${fps_line:-$(tail -n 3 "$logs/record-4k60.txt")}"
  fps="$(echo "$fps_line" | sed -n 's/.*(\([0-9.]*\) frames\/s).*/\1/p')"
  if ((rc == 0)); then note "record 4K60" "${fps:-?} frames/s at 3840x2160 (record-4k60.txt)"
  else note "record 4K60" "FAILED rc=$rc (record-4k60.txt)"; failed=1; fi
else
  note "record 4K60" "SKIPPED: no resnet50.onnx or out of time"; failed=1
fi

echo "=== render check summary ($(( $(date +%s) - start )) s)"
for s in "${summary[@]}"; do echo "$s"; done
exit $failed
