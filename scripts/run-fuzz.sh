#!/usr/bin/env bash
# Fuzzes the ONNX loader with libFuzzer for a bounded time.
#
#   scripts/run-fuzz.sh [seconds] [target]   (default 60 s, target fuzz_onnx_loader; or fuzz_npy)
#
# Configures its own build dir (clang, NETLENS_FUZZ=ON, ASan+UBSan, no Vulkan/CUDA), builds only
# tests/fuzz/fuzz_onnx_loader, seeds a corpus from a few ONNX node-suite models (and the real models
# under .cache/ when present) and runs. Exits non-zero when libFuzzer finds a crash; the input is
# left in <build>/fuzz-artifacts/ — fix the bug and copy the input to tests/onnx/inputs/ as a
# regression test (Loader.FuzzRegressions loads every file there).
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

case "$target" in
  fuzz_onnx_loader|fuzz_npy) ;;
  *) echo "run-fuzz: unknown target '$target' (fuzz_onnx_loader or fuzz_npy)" >&2; exit 2 ;;
esac
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "run-fuzz: seconds must be a positive integer (got '$seconds')" >&2
  exit 2
fi
command -v clang++ >/dev/null || { echo "run-fuzz: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DNETLENS_FUZZ=ON -DNETLENS_SANITIZE=ON -DNETLENS_VULKAN=OFF -DNETLENS_CUDA=OFF -DNETLENS_BENCH=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target "$target"
fuzzer="$build/tests/fuzz/$target"

corpus="$build/fuzz-corpus-$target"
artifacts="$build/fuzz-artifacts-$target"
mkdir -p "$corpus" "$artifacts"
n=0
if [ "$target" = fuzz_onnx_loader ]; then
  # Seed corpus: small models covering initializers, Constant attributes, subgraphs, many dtypes.
  seeds=(test_abs test_conv_with_strides_padding test_constant test_gemm_default_matrix_bias test_if
         test_loop11 test_cast_FLOAT_to_FLOAT16 test_resize_upsample_scales_linear test_lstm_defaults
         test_reshape_extended_dims test_slice_default_axes test_constantofshape_int_zeros test_einsum_sum
         test_batchnorm_example test_split_variable_parts_1d test_castlike_FLOAT_to_STRING test_identity_sequence)
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
  if [ -d "$root/tests/onnx/inputs" ]; then
    cp "$root/tests/onnx/inputs/"* "$corpus/" 2>/dev/null || true
  fi
else
  # Seed corpus: hand-written .npy files (v1 and v2 headers, several dtypes and ranks).
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
fi
echo "run-fuzz: $target, $n seed inputs, running for ${seconds}s"

set +e
"$fuzzer" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -artifact_prefix="$artifacts/" \
  -print_final_stats=1 "$corpus"
rc=$?
set -e
if [ $rc -ne 0 ]; then
  echo "run-fuzz: FAILED (exit $rc); reproducer(s) in $artifacts:" >&2
  ls -1 "$artifacts" >&2
  exit 1
fi
echo "run-fuzz: no crash in ${seconds}s"
