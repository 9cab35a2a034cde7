#!/usr/bin/env bash
# CPU latency: netlens (every activation kept) against onnxruntime-node on the same input with the
# same number of threads: ResNet-50, MobileNetV2, VGG-16, EfficientNet-B0, ViT-B/16 (224x224),
# PP-OCRv4 det (800x608) and rec (320x48), and ResNet-50 / MobileNetV2 converted to float16
# (scripts/convert-float16.py, written once under $NETLENS_CACHE_DIR/bench).
#
#   scripts/bench-vs-ort.sh [--runs N] [--warmup N] [--threads N] [--wait spin|passive] [--netlens PATH]
#                           [--models A,B,...]
#
# --models picks cases by label prefix (e.g. --models resnet50,ppocrv4_det); default: all but the
# opt-in ones: isnet_fp16 (IMG.LY's float16 ISNet at 1024x1024, ~2-10 s a run: pass
# --models isnet_fp16 --runs 3 --warmup 1).
# netlens: `netlens bench MODEL --backend cpu --input NAME=FILE.npy --runs N --warmup N --json`
#   with OMP_NUM_THREADS=N (its CPU backend and oneDNN use OpenMP).
# onnxruntime: scripts/ort/run.js --bench N --threads N, once with all graph optimisations (its
#   normal mode, fusing Conv+BN+activation and keeping nothing) and once with none (no fusion;
#   closer to what netlens does, which keeps every tensor of the original graph).
# --wait spin (default): each engine waits as it does by default: netlens with libgomp's default
#   policy (OMP_WAIT_POLICY unset: an idle thread spins GOMP_SPINCOUNT=300000 rounds, then sleeps),
#   onnxruntime spinning (allow_spinning=1).
# --wait passive: netlens with OMP_WAIT_POLICY=PASSIVE, onnxruntime with allow_spinning=0, for a
#   loaded machine (spinning threads then make runs up to 20x slower: ResNet-50 2.5 s median active
#   vs 0.15 s passive, measured in session 1). The two are not alike: onnxruntime's calling thread
#   still spins until its workers finish a parallel section, while every libgomp thread, the
#   calling one too, sleeps at once, so each parallel region costs netlens two futex wake-ups
#   (MobileNetV2, 2 threads, SPR VM, session 10: netlens 14.3 ms passive, 6.3 ms spinning, 11.2 ms
#   with 1 thread; onnxruntime 4.6 ms no-spin, 3.5 ms spinning).
#   An OMP_WAIT_POLICY in the environment sets netlens' policy in either mode.
# First run: netlens `infer` once (its "time" line: load, prepare, first run) against onnxruntime's
#   session creation (optimisations all) and first run, from the same --bench process.
# Inputs are seeded uniform random tensors in [-1, 1] (latency does not depend on the pixels), written
# once under $NETLENS_CACHE_DIR/bench. Needs scripts/fetch-models.sh and, for the torchvision models,
# scripts/export-torchvision.sh (a missing model is reported and skipped).
# Prints a table: model, netlens median ± spread, ort median ± spread, ratio netlens/ort, where
# spread is half the p10–p90 range, with the load average before and after; then the first-run
# table. The engines run one after the other, never at the same time.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${NETLENS_CACHE_DIR:-$repo/.cache}"
runs=20 warmup=3 threads=2 netlens="${NETLENS_BIN:-}" only="" wait=spin
while [[ $# -gt 0 ]]; do
  case $1 in
    --runs) runs=${2:?}; shift 2 ;;
    --warmup) warmup=${2:?}; shift 2 ;;
    --threads) threads=${2:?}; shift 2 ;;
    --wait) wait=${2:?}; shift 2 ;;
    --netlens) netlens=${2:?}; shift 2 ;;
    --models) only=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0 ;;
    *) echo "bench-vs-ort: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z $netlens ]]; then
  for b in "$repo"/build/src/cli/netlens "$repo"/build-*/src/cli/netlens; do
    [[ -x $b ]] && { netlens=$b; break; }
  done
fi
[[ -n $netlens && -x $netlens ]] ||
  { echo "bench-vs-ort: no netlens binary found; build the 'netlens' target or pass --netlens PATH" >&2; exit 1; }
[[ -d "$cache/ort/node_modules/onnxruntime-node" ]] ||
  { echo "bench-vs-ort: onnxruntime-node is missing; run scripts/fetch-models.sh" >&2; exit 1; }
run_js="$repo/scripts/ort/run.js"
# netlens' environment: OMP_WAIT_POLICY only where set (unset is libgomp's bounded spin).
omp_env=()
ort_spin=()
case $wait in
  spin) [[ -n ${OMP_WAIT_POLICY:-} ]] && omp_env=(OMP_WAIT_POLICY="$OMP_WAIT_POLICY") ;;
  passive) omp_env=(OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"); ort_spin=(--no-spin) ;;
  *) echo "bench-vs-ort: --wait takes spin or passive, not $wait" >&2; exit 2 ;;
esac
wait_label="netlens ${omp_env[*]:-libgomp default wait}, ort ${ort_spin[*]:-spinning}"
export NETLENS_CACHE_DIR="$cache"

# name  model file  input name  input shape  (a model file named *_fp16.onnx is converted from the
# float32 one by scripts/convert-float16.py into $cache/bench)
cases=(
  "resnet50@224 resnet50.onnx input 1,3,224,224"
  "mobilenet_v2@224 mobilenet_v2.onnx input 1,3,224,224"
  "vgg16@224 vgg16.onnx input 1,3,224,224"
  "efficientnet_b0@224 efficientnet_b0.onnx input 1,3,224,224"
  "vit_b_16@224 vit_b_16.onnx input 1,3,224,224"
  "ppocrv4_det@800x608 ppocrv4_det.onnx x 1,3,608,800"
  "ppocrv4_rec@320x48 ppocrv4_rec.onnx x 1,3,48,320"
  "resnet50_fp16@224 resnet50_fp16.onnx input 1,3,224,224"
  "mobilenet_v2_fp16@224 mobilenet_v2_fp16.onnx input 1,3,224,224"
  "isnet_fp16@1024 isnet_fp16.onnx input 1,3,1024,1024"
)
optin=(isnet_fp16)  # run only when --models names them

mkdir -p "$cache/bench"
# A seeded random float32 .npy (xorshift32; identical on every machine).
write_npy() {
  # shellcheck disable=SC2016  # JavaScript, not shell
  node -e '
    const fs = require("fs"); const [file, dims] = [process.argv[1], process.argv[2].split(",").map(Number)];
    const n = dims.reduce((a, b) => a * b, 1); const a = new Float32Array(n); let s = 2463534242;
    for (let i = 0; i < n; ++i) { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; a[i] = s / 2147483648 - 1; }
    let h = `{"descr": "<f4", "fortran_order": False, "shape": (${dims.join(", ")}), }`.replace(/"/g, "\x27");
    h += " ".repeat((64 - ((10 + h.length + 1) % 64)) % 64) + "\n";
    const pre = Buffer.alloc(10); pre.write("\x93NUMPY", 0, "latin1"); pre[6] = 1; pre.writeUInt16LE(h.length, 8);
    fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(h, "latin1"), Buffer.from(a.buffer)]));' "$1" "$2"
}
# Reads fields of a JSON line: json_get LINE field...
json_get() { node -e 'const o = JSON.parse(process.argv[1]); console.log(process.argv.slice(2).map((k) => o[k]).join(" "))' "$@"; }
fmt() { awk -v m="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%9.2f ± %-7.2f", m, (b - a) / 2 }'; }

rows=() first=()
# The 1-minute load average before and after: other processes on the cores change both engines'
# times (a spinning runtime waits for pre-empted threads), so the table says what it ran beside.
load_before=$(cut -d' ' -f1 /proc/loadavg)
for c in "${cases[@]}"; do
  read -r label file iname shape <<<"$c"
  if [[ -n $only ]]; then
    keep=0
    for m in ${only//,/ }; do [[ $label == "$m"@* ]] && keep=1; done
    [[ $keep == 1 ]] || continue
  else
    skip=0
    for m in "${optin[@]}"; do [[ $label == "$m"@* ]] && skip=1; done
    [[ $skip == 0 ]] || continue
  fi
  model="$cache/models/$file"
  if [[ $file == *_fp16.onnx && ! -f $model ]]; then
    src="$cache/models/${file%_fp16.onnx}.onnx" model="$cache/bench/$file"
    if [[ -f $src && ! -f $model ]]; then
      /usr/bin/python3 "$repo/scripts/convert-float16.py" "$src" "$model.tmp" >&2 && mv "$model.tmp" "$model"
    fi
  fi
  if [[ ! -f $model ]]; then
    echo "bench-vs-ort: $model is missing (scripts/fetch-models.sh or scripts/export-torchvision.sh); skipped" >&2
    continue
  fi
  input="$cache/bench/${file%.onnx}_${shape//,/x}.npy"
  [[ -f $input ]] || write_npy "$input" "$shape"
  echo "bench-vs-ort: $label: netlens first run, then $runs runs ($threads threads)" >&2
  t0=$(date +%s%N)
  nt=$(env OMP_NUM_THREADS="$threads" "${omp_env[@]}" "$netlens" infer "$model" --backend cpu --input "$iname=$input" --quiet |
         sed -n 's/^time *load \([0-9.]*\) ms, prepare \([0-9.]*\) ms, run \([0-9.]*\) ms$/\1 \2 \3/p') ||
    { echo "bench-vs-ort: netlens infer failed on $label" >&2; exit 1; }
  nwall=$(( ($(date +%s%N) - t0) / 1000000 ))
  nl=$(env OMP_NUM_THREADS="$threads" "${omp_env[@]}" "$netlens" bench "$model" --backend cpu --input "$iname=$input" --runs "$runs" \
         --warmup "$warmup" --json | tail -n 1) || { echo "bench-vs-ort: netlens bench failed on $label" >&2; exit 1; }
  echo "bench-vs-ort: $label: onnxruntime (all optimisations, then none)" >&2
  oa=$(node "$run_js" "$model" - --input "$iname=$input" --threads "$threads" --bench "$runs" --warmup "$warmup" --opt all "${ort_spin[@]}")
  od=$(node "$run_js" "$model" - --input "$iname=$input" --threads "$threads" --bench "$runs" --warmup "$warmup" --opt disabled "${ort_spin[@]}")
  read -r nm n10 n90 <<<"$(json_get "$nl" median_ms p10_ms p90_ms)"
  read -r am a10 a90 <<<"$(json_get "$oa" median_ms p10_ms p90_ms)"
  read -r dm d10 d90 <<<"$(json_get "$od" median_ms p10_ms p90_ms)"
  read -r nload nprep nfirst <<<"$nt"
  read -r acreate afirst <<<"$(json_get "$oa" create_ms first_run_ms)"
  first+=("$(printf '%-22s %8.0f %8.0f %8.0f %8.0f %9d %8.0f %8.0f %8.0f' "$label" "$nload" "$nprep" "$nfirst" \
              "$(awk -v a="$nload" -v b="$nprep" -v c="$nfirst" 'BEGIN{print a+b+c}')" "$nwall" "$acreate" "$afirst" \
              "$(awk -v a="$acreate" -v b="$afirst" 'BEGIN{print a+b}')")")
  rows+=("$(printf '%-22s %s %s %s %7.2fx %7.2fx' "$label" "$(fmt "$nm" "$n10" "$n90")" "$(fmt "$am" "$a10" "$a90")" \
             "$(fmt "$dm" "$d10" "$d90")" "$(awk -v a="$nm" -v b="$am" 'BEGIN{print a/b}')" \
             "$(awk -v a="$nm" -v b="$dm" 'BEGIN{print a/b}')")")
done
[[ ${#rows[@]} -gt 0 ]] || { echo "bench-vs-ort: no model to benchmark" >&2; exit 1; }
echo "CPU, $threads threads ($wait_label), $runs runs after $warmup warm-up; median ± half the p10-p90 range, ms; ratio = netlens / ort; load average $load_before -> $(cut -d' ' -f1 /proc/loadavg)"
printf '%-22s %-19s %-19s %-19s %8s %8s\n' model "netlens" "ort (opt all)" "ort (opt none)" "vs all" "vs none"
printf '%s\n' "${rows[@]}"
echo
echo "First run, ms: netlens infer (load, prepare, first run, their sum, the whole process); onnxruntime (session creation with all optimisations, first run, sum)"
printf '%-22s %8s %8s %8s %8s %9s %8s %8s %8s\n' model load prepare first sum process create first sum
printf '%s\n' "${first[@]}"
