#!/usr/bin/env bash
# The GPU check, run ON the GPU machine from the repo root with $OUT set (logs go to $OUT/gpu-check):
#
#   scripts/gpu-check.sh          # needs .gpu/bundle.tar.xz from scripts/gpu-bundle.sh
#
# Steps (each under `timeout`, all within NETLENS_GPU_BUDGET_S, default 340 s):
#   nvidia-smi · unpack the bundle · export ResNet-50/MobileNetV2/VGG-16 with torchvision ·
#   CUDA tests (index, op conformance, every model vs the CPU, in fp32/tf32/fp16, CUDA gradients of
#   ResNet-50/MobileNetV2 vs the CPU kernels) · backward/forward latency (bench --backward) · compute-sanitizer memcheck on the
#   PP-OCR cls model · benchmark vs PyTorch eager (scripts/gpu/bench.py; fp32 for every model, tf32
#   and fp16 rows for the torchvision ones) ·
#   scripts/gpu-render-check.sh when present (renders, render benchmark, and `record` at 3840x2160
#   --fps 60: its frames/s is the 4K60 recording rate) · a short table, printed last.
# Without a GPU it says "no GPU" and exits 3; a failed step makes the exit status 1.
set -uo pipefail

repo="$(pwd)"
OUT="${OUT:-$repo/out}"
logs="$OUT/gpu-check"
mkdir -p "$logs"
budget="${NETLENS_GPU_BUDGET_S:-340}"
start=$(date +%s)
bundle_tar="$repo/.gpu/bundle.tar.xz"
root=/tmp/netlens-gpu
rows=()
failed=0

elapsed() { echo $(($(date +%s) - start)); }

# step NAME MAX_SECONDS CMD... : runs CMD with a timeout that also respects the overall budget,
# logs to $logs/NAME.log, echoes the log's tail, records a row for the final table.
step() {
  local name="$1" max="$2"
  shift 2
  local left=$((budget - $(elapsed) - 5))
  local t=$((max < left ? max : left))
  if ((t < 5)); then
    rows+=("$(printf '%-22s %-10s %s' "$name" "SKIPPED" "out of time")")
    failed=1
    return 0
  fi
  echo "=== $name (timeout ${t}s)"
  local t0=$(date +%s)
  timeout -k 5 "$t" "$@" >"$logs/$name.log" 2>&1
  local rc=$?
  local dt=$(($(date +%s) - t0))
  tail -n "${TAIL_LINES:-12}" "$logs/$name.log"
  local status="ok"
  if ((rc == 124 || rc == 137)); then status="TIMEOUT"; failed=1
  elif ((rc != 0)); then status="FAILED($rc)"; failed=1; fi
  rows+=("$(printf '%-22s %-10s %4ss  %s' "$name" "$status" "$dt" "${NOTE:-}")")
  NOTE=""
  return $rc
}

table() {
  echo
  echo "=== gpu-check summary ($(elapsed)s, logs in $logs)"
  [[ -f "$logs/bench.table" ]] && cat "$logs/bench.table"
  printf '%-22s %-10s %5s  %s\n' "step" "status" "time" "notes"
  for r in "${rows[@]}"; do echo "$r"; done
}

# ---- is there a GPU at all? -------------------------------------------------------------------
if ! command -v nvidia-smi >/dev/null 2>&1 || ! timeout 20 nvidia-smi >"$logs/nvidia-smi.log" 2>&1; then
  echo "gpu-check: no GPU (nvidia-smi missing or failing: $(head -c 200 "$logs/nvidia-smi.log" 2>/dev/null | tr '\n' ' '))"
  rows+=("$(printf '%-22s %-10s' nvidia-smi "no GPU")")
  table
  exit 3
fi
cat "$logs/nvidia-smi.log"
rows+=("$(printf '%-22s %-10s %4ss  %s' nvidia-smi ok 0 "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)")")

# ---- bundle + libraries -------------------------------------------------------------------------
if [[ ! -f "$bundle_tar" ]]; then
  echo "gpu-check: $bundle_tar missing (run scripts/gpu-bundle.sh here and carry .gpu)"
  rows+=("$(printf '%-22s %-10s' unpack "MISSING")")
  table
  exit 1
fi
rm -rf "$root"
step unpack 60 tar -xJf "$bundle_tar" -C /tmp || { table; exit 1; }
cat "$root/MANIFEST" 2>/dev/null

# cuDNN, cuBLAS(Lt), nvrtc come from PyTorch's pip packages (nvidia/*/lib, nvidia/cu13/lib) and torch/lib.
py_libs="$(timeout 60 python3 - <<'PY' 2>/dev/null
import glob, importlib.util, os
dirs = []
for name in ("nvidia",):
    spec = importlib.util.find_spec(name)
    for base in (spec.submodule_search_locations or []) if spec else []:
        dirs += sorted(glob.glob(os.path.join(base, "*", "lib"))) + sorted(glob.glob(os.path.join(base, "*", "lib64")))
spec = importlib.util.find_spec("torch")
if spec and spec.submodule_search_locations:
    dirs.append(os.path.join(list(spec.submodule_search_locations)[0], "lib"))
print(":".join(d for d in dirs if os.path.isdir(d)))
PY
)"
export LD_LIBRARY_PATH="$root/lib${py_libs:+:$py_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >"$logs/libs.log"
for b in "$root"/bin/*; do ldd "$b" >>"$logs/libs.log" 2>&1; done
missing="$(grep 'not found' "$logs/libs.log" | sort -u | tr -s ' \t' ' ')"
for lib in libcudnn.so.9 libcublas.so.13 libcublasLt.so.13; do
  found=""
  IFS=: read -ra ds <<<"$LD_LIBRARY_PATH"
  for d in "${ds[@]}"; do [[ -e "$d/$lib" ]] && found="$d/$lib" && break; done
  echo "$lib -> ${found:-NOT FOUND}" | tee -a "$logs/libs.log"
  [[ -n "$found" ]] || missing="$missing $lib"
done
if [[ -n "$missing" ]]; then
  echo "gpu-check: unresolved libraries: $missing"
  rows+=("$(printf '%-22s %-10s %s' libraries "MISSING" "$missing")")
  failed=1
else
  rows+=("$(printf '%-22s %-10s %4ss  %s' libraries ok 0 "cudnn/cublas from python packages")")
fi

models="$root/models"
bin="$root/bin"
export NETLENS_MODEL_DIR="$models"

# ---- torchvision models -------------------------------------------------------------------------
NOTE="resnet50 mobilenet_v2 vgg16, opset 17" step export_torchvision 120 python3 "$repo/scripts/gpu/export_models.py" "$models"

# ---- tests ----------------------------------------------------------------------------------------
gtest_note() {  # "N passed, M failed, K skipped" from a gtest log
  local log="$logs/$1.log"
  local p f s
  p=$(grep -c '^\[       OK \]' "$log" 2>/dev/null)
  f=$(grep -c '^\[  FAILED  \] .*(' "$log" 2>/dev/null)
  s=$(grep -c '^\[  SKIPPED \] .*(' "$log" 2>/dev/null)
  echo "${p:-0} passed, ${f:-0} failed, ${s:-0} skipped"
}
run_gtest() {  # run_gtest NAME MAX BINARY [ARGS...]: every test in its own process (scripts/gpu/run_each.sh)
  local name="$1" max="$2" b="$3"
  shift 3
  TAIL_LINES=25 step "$name" "$max" "$repo/scripts/gpu/run_each.sh" "$bin/$b" "$logs/$name" "$@"
  local rc=$?
  local last=$((${#rows[@]} - 1))
  rows[$last]="${rows[$last]}$(gtest_note "$name")"
  return $rc
}
run_gtest test_cuda_index 30 test_cuda_index
run_gtest test_cuda_backend 60 test_cuda_backend
# The conformance harness: every op case on each CUDA mode (fp32, tf32, fp16, direct convolutions)
# against the CPU, forward and backward, with guard bytes (the CPU-only checks need ONNX's test data,
# which the bundle does not carry; CI runs them).
step conformance 240 "$bin/netlens_conformance" --gtest_filter='Conformance.OtherBackendsVsCpu:Conformance.HarnessReportsFaults'
run_gtest test_cuda_models 150 test_cuda_models
# The zero-copy live path (issue 12): app::View as the interop sink over a CUDA session prepared once
# on its inference thread; frames equal host-scene frames, only the selected layer reaches the host.
if [[ -x "$bin/netlens_interop_cuda_tests" ]]; then
  run_gtest interop_view 90 netlens_interop_cuda_tests --gtest_filter='InteropView.*'
  grep -h '^interop:' "$logs/interop_view.log"* 2>/dev/null
fi
grep -h '^\[ precision\]' "$logs/test_cuda_backend.log"* 2>/dev/null
grep -h '^\[conformance\]' "$logs/conformance.log" 2>/dev/null
grep -h '^\[ model    \]' "$logs/test_cuda_models.log" 2>/dev/null
grep -h '^\[ grad     \]' "$logs/test_cuda_models.log"* 2>/dev/null
# Backward vs forward latency on the GPU (issue 14: backward <= 3x forward), the CLI's benchmark;
# nodes the CUDA backend cannot differentiate are listed on stderr (differentiated on the host).
NOTE="resnet50 224, ppocrv4_det 640" step bench_backward 75 bash -c '"$0/netlens" bench "$1/resnet50.onnx" --backend cuda \
  --backward --runs 30 --json && "$0/netlens" bench "$1/ppocrv4_det.onnx" --backend cuda --backward --runs 20 \
  --input-shape x=1x3x640x640 --json' "$bin" "$models"
python3 - "$logs/bench_backward.log" <<'PY' 2>/dev/null
import json, sys
for line in open(sys.argv[1]):
    if line.startswith("{") and '"backward"' in line:
        j = json.loads(line); b = j["backward"]
        print("[ backward ] %s on %s: forward %.3f ms, backward %.3f ms (p10 %.3f, p90 %.3f), %.2fx forward"
              % (j["model"].split("/")[-1], j["backend"], j["median_ms"], b["median_ms"], b["p10_ms"], b["p90_ms"],
                 b["ratio_to_forward"]))
PY

# ---- compute-sanitizer ------------------------------------------------------------------------------
sanitizer="$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)"
if [[ -n "$sanitizer" ]]; then
  step memcheck_ppocr_cls 120 "$sanitizer" --tool memcheck --error-exitcode 9 "$bin/test_cuda_models" \
    --gtest_filter='*ppocr_cls*'
  NOTE_LINE="$(grep -h 'ERROR SUMMARY' "$logs/memcheck_ppocr_cls.log" 2>/dev/null | tail -1)"
  last=$((${#rows[@]} - 1))
  rows[$last]="${rows[$last]}${NOTE_LINE:-}"
else
  rows+=("$(printf '%-22s %-10s' memcheck "SKIPPED" ) compute-sanitizer not found")
fi

# ---- benchmark --------------------------------------------------------------------------------------
left=$((budget - $(elapsed) - 40))
TAIL_LINES=14 step bench 150 python3 "$repo/scripts/gpu/bench.py" --bin "$bin/netlens_cuda_bench" --models "$models" \
  --out "$logs/bench.json" --runs 50 --budget $((left > 150 ? 130 : (left > 30 ? left - 20 : 10)))

# ---- render check (another engineer's) --------------------------------------------------------------
if [[ -f "$repo/scripts/gpu-render-check.sh" ]]; then
  NETLENS_GPU_BUNDLE="$root" step render_check 110 bash "$repo/scripts/gpu-render-check.sh"
fi

table
exit $failed
