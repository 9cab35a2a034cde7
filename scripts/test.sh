#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh Debian 12 machine: installs dependencies
# (apt), fetches the test models and the onnxruntime oracle (npm), exports the torchvision models
# (Debian's python3-torch), builds everything the machine can build (CUDA parts when nvcc + cuDNN
# are present), then runs
#   1. the tests labelled "sanitize" (loader, I/O, bad input, live pipeline, feeder, viewer) under
#      AddressSanitizer + UndefinedBehaviorSanitizer,
#   2. the tests labelled "tsan" (live pipeline, feeder, viewer) under ThreadSanitizer,
#   3. every libFuzzer target for a bounded time (NETLENS_FUZZ_SECONDS each, default 30),
#   4. every test with CTest, then the skip policy: a test may skip only for a missing GPU or camera
#      (scripts/ci/check-skips.py); the last line is the summary over all three CTest runs.
# NETLENS_SOAK_SECONDS (default 60) sets the live-viewer soak's length (scripts/soak.sh, test "soak").
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
jobs="$(nproc)"
# Tests run side by side on few cores: OpenMP's default busy-waiting would make each test's threads
# spin against the others' (seen: 15x slower on a loaded 2-core machine).
export OMP_WAIT_POLICY=PASSIVE
# Window tests start Xvfb side by side: the suite's xvfb-run gives each its own display number
# (tests/support/xvfb/xvfb-run says why; Debian's `xvfb-run -a` lets two tests pick the same one).
export PATH="$repo/tests/support/xvfb:$PATH"
supp="$repo/scripts/ci"

bash scripts/setup.sh
bash scripts/fetch-models.sh
# The classifiers (gradient, explain and model tests) and the branching networks of the layout
# tests (GoogLeNet, DenseNet-121, a U-Net): a missing model fails its test, it does not skip.
bash scripts/export-torchvision.sh resnet50 mobilenet_v2 vgg16 efficientnet_b0 vit_b_16 googlenet densenet121
[[ -s .cache/models/unet.onnx ]] || /usr/bin/python3 scripts/export-unet.py .cache/models/unet.onnx --size 256
# The torch-exported ViT of the attention and memory tests (test_attention.cpp also makes it when it
# runs first; the memory tests need it whatever the order).
[[ -s .cache/models/tinyvit.onnx ]] || /usr/bin/python3 scripts/export-tinyvit.py .cache/models/tinyvit.onnx

junits=()
failed=0

echo "== sanitizers (ASan + UBSan): loader, I/O, bad-input, live pipeline, feeder and viewer tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DNETLENS_SANITIZE=ON -DNETLENS_CUDA=OFF \
  -DNETLENS_VULKAN=ON -DNETLENS_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs" --target netlens_sanitize_tests netlens
# Leaks inside Mesa/LLVM/X11 (lavapipe, Xvfb clients) are theirs, not ours: suppressed by library.
# The Vulkan loader unloads the driver before LeakSanitizer looks, which leaves lavapipe's leaks
# unattributed ("<unknown module>"); preloading it keeps it mapped so that the suppression can name
# it (verify_asan_link_order=0: ASan then is not first). Not the validation layer: it exports
# vkGetInstanceProcAddr and, preloaded, would shadow the loader's (GLFW then finds no Vulkan).
vk_preload=$(python3 -c "import json; print(json.load(open('/usr/share/vulkan/icd.d/lvp_icd.x86_64.json'))['ICD']['library_path'])")
LD_PRELOAD="$vk_preload" ASAN_OPTIONS=detect_leaks=1:verify_asan_link_order=0 \
  LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0" UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -L sanitize --output-on-failure -j"$jobs" --output-junit "$repo/build-asan/junit.xml" ||
  failed=1
junits+=("$repo/build-asan/junit.xml")

echo "== ThreadSanitizer: live pipeline, feeder and viewer tests"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNETLENS_TSAN=ON -DNETLENS_CUDA=OFF \
  -DNETLENS_VULKAN=ON -DNETLENS_BENCH=OFF >/dev/null
cmake --build build-tsan -j"$jobs" --target netlens_tsan_tests netlens
# One OpenMP thread: libgomp is not instrumented, so its barriers would look like races.
OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$supp/tsan.supp" \
  ctest --test-dir build-tsan -L tsan --output-on-failure -j"$jobs" --output-junit "$repo/build-tsan/junit.xml" ||
  failed=1
junits+=("$repo/build-tsan/junit.xml")

echo "== fuzzing every target for ${NETLENS_FUZZ_SECONDS:-30} s each"
bash scripts/run-fuzz.sh "${NETLENS_FUZZ_SECONDS:-30}" all || failed=1

echo "== build and test"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DNETLENS_VULKAN=ON -DNETLENS_CUDA=AUTO -DNETLENS_TESTS=ON \
  -DNETLENS_TORCHVISION_TESTS=ON >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" --output-junit "$repo/build/junit.xml" || failed=1
junits+=("$repo/build/junit.xml")

echo "== skip policy (only a missing GPU or camera may skip a test)"
python3 scripts/ci/check-skips.py "${junits[@]}" || failed=1
python3 - "${junits[@]}" <<'PY'
import sys, xml.etree.ElementTree as ET
p = f = s = 0
for path in sys.argv[1:]:
    for tc in ET.parse(path).getroot().iter("testcase"):
        st = tc.get("status")
        if tc.find("skipped") is not None: s += 1
        elif st == "fail" or tc.find("failure") is not None: f += 1
        else: p += 1
print(f"netlens: {p} passed, {f} failed, {s} skipped")
PY
exit "$failed"
