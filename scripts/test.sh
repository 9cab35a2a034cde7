#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh Debian 12 machine: installs dependencies
# (apt), fetches the test models and the onnxruntime oracle (npm), builds everything the machine
# can build (CUDA parts when nvcc + cuDNN are present), then runs
#   1. the loader/input-validation tests under AddressSanitizer + UndefinedBehaviorSanitizer,
#   2. the ONNX loader fuzzer for a bounded time (NETLENS_FUZZ_SECONDS, default 60),
#   3. every test with CTest (its summary line is the last thing printed).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
jobs="$(nproc)"
# Tests run side by side on few cores: OpenMP's default busy-waiting would make each test's threads
# spin against the others' (seen: 15x slower on a loaded 2-core machine).
export OMP_WAIT_POLICY=PASSIVE

bash scripts/setup.sh
bash scripts/fetch-models.sh

echo "== sanitizers (ASan + UBSan): loader, I/O and bad-input tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DNETLENS_SANITIZE=ON -DNETLENS_CUDA=OFF \
  -DNETLENS_VULKAN=OFF -DNETLENS_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs" --target netlens_sanitize_tests
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -L sanitize --output-on-failure -j"$jobs"

if [ -x scripts/run-fuzz.sh ] || [ -f scripts/run-fuzz.sh ]; then
  echo "== fuzzing the ONNX loader for ${NETLENS_FUZZ_SECONDS:-60} s"
  bash scripts/run-fuzz.sh "${NETLENS_FUZZ_SECONDS:-60}"
fi

echo "== build and test"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DNETLENS_VULKAN=ON -DNETLENS_CUDA=AUTO -DNETLENS_TESTS=ON >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"
