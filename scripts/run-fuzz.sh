#!/usr/bin/env bash
# Runs the libFuzzer targets for a bounded time.
#
#   scripts/run-fuzz.sh [seconds] [target|all]   (default 60 s, target fuzz_onnx_loader)
#
# Targets (tests/fuzz/): fuzz_onnx_loader (load + shape inference + folding + prepare under a
# 256 MiB budget + a run on zero inputs when small), fuzz_npy, fuzz_camera_json (--camera files),
# fuzz_labels (--labels files), fuzz_viewer_script (view --script files), fuzz_image (PNG/JPEG/BMP
# decoding and resizing). `all` runs every target for [seconds] each, one after the other, and
# fails when any of them found something.
#
# Configures its own build dir (clang, NETLENS_FUZZ=ON, ASan+UBSan, every library instrumented for
# coverage, no Vulkan/CUDA), builds only the fuzz targets asked for, seeds a corpus per target and
# runs. Exits non-zero when libFuzzer finds a crash; the input is left in
# <build>/fuzz-artifacts-<target>/ — fix the bug and copy the input to the target's regression
# folder (regression_dir below), which a normal ctest test replays.
#
# Environment: NETLENS_FUZZ_BUILD (build dir, default build-fuzz), NETLENS_TESTDATA (ONNX test data,
# default /usr/share/libonnx-testdata/data), NETLENS_FUZZ_JOBS (parallel ninja jobs, default 2).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-60}"
target="${2:-fuzz_onnx_loader}"
build="${NETLENS_FUZZ_BUILD:-$root/build-fuzz}"
testdata="${NETLENS_TESTDATA:-/usr/share/libonnx-testdata/data}"
jobs="${NETLENS_FUZZ_JOBS:-2}"

# Every target `all` runs. A new target: add it here, to seed_corpus and to regression_dir.
targets=(fuzz_onnx_loader fuzz_npy fuzz_camera_json fuzz_labels fuzz_viewer_script fuzz_image)

# Where each target's finds are kept as regression inputs (loaded by a ctest test).
regression_dir() {
  case "$1" in
    fuzz_onnx_loader) echo "$root/tests/onnx/inputs" ;;  # Loader.FuzzRegressions, HostileModels.FuzzRegressionsPrepare
    fuzz_npy) echo "" ;;  # none kept yet
    fuzz_camera_json) echo "$root/tests/viz/inputs/camera" ;;  # FuzzRegressions.CameraJson
    fuzz_labels) echo "$root/tests/inspect/inputs/labels" ;;  # LabelsFuzzRegressions.EveryInput
    fuzz_viewer_script) echo "$root/tests/viz/inputs/script" ;;  # FuzzRegressions.ViewerScript
    fuzz_image) echo "$root/tests/unit/image_inputs" ;;  # Decode.FuzzRegressions
  esac
}

if [ "$target" = all ]; then
  run=("${targets[@]}")
else
  known=0
  for t in "${targets[@]}"; do [ "$t" = "$target" ] && known=1; done
  if [ $known = 0 ]; then
    echo "run-fuzz: unknown target '$target' (one of: ${targets[*]}, or all)" >&2
    exit 2
  fi
  run=("$target")
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "run-fuzz: seconds must be a positive integer (got '$seconds')" >&2
  exit 2
fi
command -v clang++ >/dev/null || { echo "run-fuzz: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }

# -fsanitize=fuzzer-no-link: the libraries get the coverage instrumentation libFuzzer steers by
# (without it only the small entry files would be instrumented and the fuzzer would run blind).
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link \
  -DNETLENS_FUZZ=ON -DNETLENS_SANITIZE=ON -DNETLENS_VULKAN=OFF -DNETLENS_CUDA=OFF -DNETLENS_BENCH=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target "${run[@]}"

# Writes the seed inputs of target $1 into folder $2; prints how many.
seed_corpus() {
  local t="$1" corpus="$2" n=0
  case "$t" in
    fuzz_onnx_loader)
      # Small models covering initializers, Constant attributes, subgraphs, many dtypes, and ops whose
      # output sizes come from tensor values (folding, Range, Expand, Tile, Resize, Pad).
      local seeds=(test_abs test_conv_with_strides_padding test_constant test_gemm_default_matrix_bias test_if
             test_loop11 test_cast_FLOAT_to_FLOAT16 test_resize_upsample_scales_linear test_lstm_defaults
             test_reshape_extended_dims test_slice_default_axes test_constantofshape_int_zeros test_einsum_sum
             test_batchnorm_example test_split_variable_parts_1d test_castlike_FLOAT_to_STRING test_identity_sequence
             test_range_int32_type_negative_delta test_expand_dim_changed test_tile test_pad test_concat_2d_axis_0
             test_depthtospace_example test_convtranspose test_maxpool_2d_pads test_onehot_with_axis
             test_resize_downsample_sizes_nearest)
      local s
      for s in "${seeds[@]}"; do
        if [ -f "$testdata/node/$s/model.onnx" ]; then
          cp "$testdata/node/$s/model.onnx" "$corpus/seed_$s.onnx"
          n=$((n + 1))
        fi
      done
      if [ -d "$root/.cache" ]; then
        # Real models, the small ones only (large seeds slow every mutation down).
        while IFS= read -r -d '' f; do
          cp "$f" "$corpus/real_$(basename "$f")"
          n=$((n + 1))
        done < <(find "$root/.cache" -name '*.onnx' -size -4M -print0)
      fi
      ;;
    fuzz_npy)
      # Hand-written .npy files (v1 and v2 headers, several dtypes and ranks).
      npy() {  # npy <file> <version> <header dict> <payload bytes as printf escapes>
        local dict="$3" pre=10
        [ "$2" = 2 ] && pre=12
        local len=$(( (pre + ${#dict} + 1 + 63) / 64 * 64 - pre ))
        local pad=$(( len - ${#dict} - 1 ))
        {
          printf '\x93NUMPY'
          if [ "$2" = 2 ]; then printf '\x02\x00'; printf "\\x$(printf %02x $((len & 255)))\\x$(printf %02x $((len >> 8)))\x00\x00"
          else printf '\x01\x00'; printf "\\x$(printf %02x $((len & 255)))\\x$(printf %02x $((len >> 8)))"; fi
          printf '%s%*s\n' "$dict" "$pad" ''
          printf "$4"
        } > "$corpus/$1"
        n=$((n + 1))
      }
      npy f4.npy 1 "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }" '\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40'
      npy i8.npy 1 "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }" '\x07\x00\x00\x00\x00\x00\x00\x00'
      npy b1.npy 1 "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }" '\x01\x00\x01'
      npy f2.npy 2 "{'descr': '<f2', 'fortran_order': False, 'shape': (), }" '\x00\x3c'
      npy u1.npy 1 "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 4), }" ''
      ;;
    fuzz_camera_json)
      printf '%s\n' '{"target": [1.5, -2, 0.25], "distance": 12.5, "yaw_deg": 30, "pitch_deg": -20, "fov_y_deg": 45, "cut_x": null}' > "$corpus/full.json"
      printf '%s\n' '{"target": [0, 0, 0], "distance": 1, "cut_x": 3.5}' > "$corpus/cut.json"
      printf '%s' '{"distance":2e1,"target":[1e-3,-0,5E2],"extra":{"a":[true,false,null,"s\"\\u00e9"]}}' > "$corpus/nested.json"
      n=3
      ;;
    fuzz_labels)
      printf 'tench\ngoldfish\r\ngreat white shark\n\nhammerhead' > "$corpus/labels.txt"
      printf 'a\nb\nc\nd\ne\nf\ng\nh\n' > "$corpus/eight.txt"
      printf '\n' > "$corpus/blank.txt"
      n=3
      ;;
    fuzz_viewer_script)
      printf '# a tour\nframes 5\nsettle\nresize 800 600\ncursor 10.5 20\nclick 400 300\nkey tab\nkey esc\n' > "$corpus/tour.script"
      printf 'drag 30 -12\nscroll -2.5\nmove 1 0 0.5 2\nlod mean\nscale global 1 99\nscale layer\nsave-camera c.json\n' > "$corpus/view.script"
      printf 'open img.png # load\nwait-input\nnext\nprev\npause\nscreenshot s.png\niconify\nrestore\nfocus 1 2\nclose\n' > "$corpus/live.script"
      n=3
      ;;
    fuzz_image)
      # Small PNG (RGB, grey, palette, alpha, 16-bit), JPEG (baseline, progressive, 4:4:4, grey) and
      # BMP files made from scikit-image's photos with Pillow; a rendered text line if that is missing.
      if ! n="$(/usr/bin/python3 "$root/tests/fuzz/make_image_seeds.py" "$corpus" 2>/dev/null)"; then
        cp "$root/assets/samples/line_192x48.png" "$corpus/"
        n=1
      fi
      ;;
  esac
  local r
  r="$(regression_dir "$t")"
  if [ -n "$r" ] && [ -d "$r" ]; then
    cp "$r/"* "$corpus/" 2>/dev/null || true
    n=$((n + $(find "$r" -maxdepth 1 -type f | wc -l)))
  fi
  echo "$n"
}

failed=()
for t in "${run[@]}"; do
  corpus="$build/fuzz-corpus-$t"
  artifacts="$build/fuzz-artifacts-$t"
  mkdir -p "$corpus" "$artifacts"
  n="$(seed_corpus "$t" "$corpus")"
  echo "run-fuzz: $t, $n seed inputs, running for ${seconds}s"
  set +e
  "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -artifact_prefix="$artifacts/" \
    -print_final_stats=1 "$corpus"
  rc=$?
  set -e
  if [ $rc -ne 0 ]; then
    echo "run-fuzz: $t FAILED (exit $rc); reproducer(s) in $artifacts (keep each in $(regression_dir "$t")):" >&2
    ls -1 "$artifacts" >&2
    failed+=("$t")
  else
    echo "run-fuzz: $t: no crash in ${seconds}s"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "run-fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
[ ${#run[@]} -gt 1 ] && echo "run-fuzz: all ${#run[@]} targets ran ${seconds}s each without a crash"
exit 0
