#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh runs on the GPU machine, here, and packs it into
# .gpu/bundle.tar.xz (git-ignored through .git/info/exclude).
#
#   scripts/gpu-bundle.sh            # NETLENS_VULKAN=ON|OFF (default: ON when the Vulkan parts build)
#
# The GPU machine has the CUDA driver, PyTorch (cuBLAS, cuDNN, nvrtc in its pip packages) and no
# Debian packages, so the bundle carries: the netlens CLI, the CUDA test binaries and the latency
# benchmark (Release, sm_90), every shared library they need that the GPU machine lacks (found
# with ldd; never libcuda, cuDNN or cuBLAS, which come from there; never glibc/libstdc++, which the
# GPU machine's own are new enough for: checked below), and the PP-OCR models.
# Extra targets to bundle (e.g. render tests): NETLENS_GPU_EXTRA_TARGETS="target1 target2".
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
build="$repo/build-gpu"
out="$repo/.gpu"
stage="$out/stage/netlens-gpu"
cache="${NETLENS_CACHE_DIR:-$repo/.cache}"
jobs="${NETLENS_JOBS:-2}"
max_glibc="2.35"  # Ubuntu 22.04; the GPU machine is at least that

die() { echo "gpu-bundle: $*" >&2; exit 1; }
log() { echo "gpu-bundle: $*" >&2; }

[[ -x /usr/local/cuda/bin/nvcc ]] || die "nvcc not found at /usr/local/cuda/bin/nvcc"
mkdir -p "$out"
# .gpu/ must never be committed; the lead owns .gitignore, so use the local exclude file.
git_dir="$(git rev-parse --git-dir 2>/dev/null || true)"
if [[ -n "$git_dir" ]]; then
  mkdir -p "$git_dir/info"
  grep -qxF '/.gpu/' "$git_dir/info/exclude" 2>/dev/null || echo '/.gpu/' >>"$git_dir/info/exclude"
fi

configure() {
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNETLENS_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DNETLENS_VULKAN="$1" -DNETLENS_TESTS=ON -DNETLENS_BENCH=OFF >"$out/configure.log" 2>&1
}
vulkan="${NETLENS_VULKAN:-auto}"
if [[ "$vulkan" == auto ]]; then
  if configure ON; then vulkan=ON; else log "Vulkan configure failed (see .gpu/configure.log); building without it"; vulkan=OFF; configure OFF || die "configure failed: .gpu/configure.log"; fi
else
  configure "$vulkan" || die "configure failed: .gpu/configure.log"
fi

targets=(netlens test_cuda_index test_cuda_backend netlens_conformance test_cuda_models netlens_cuda_bench)
# CUDA↔Vulkan interop tests and the interop-on/off latency benchmark exist only with Vulkan.
[[ "$vulkan" == ON ]] && targets+=(netlens_interop_cuda_tests netlens_interop_bench netlens_code_builder_tests)
# shellcheck disable=SC2206
targets+=(${NETLENS_GPU_EXTRA_TARGETS:-})
log "building ${targets[*]} (NETLENS_VULKAN=$vulkan, -j$jobs)"
if ! cmake --build "$build" -j"$jobs" --target "${targets[@]}" >"$out/build.log" 2>&1; then
  if [[ "$vulkan" == ON && -z "${NETLENS_VULKAN:-}" ]]; then
    cp "$out/build.log" "$out/build-vulkan.log"
    log "build with Vulkan failed (see .gpu/build-vulkan.log); retrying without Vulkan"
    vulkan=OFF
    configure OFF || die "configure failed: .gpu/configure.log"
    cmake --build "$build" -j"$jobs" --target "${targets[@]}" >"$out/build.log" 2>&1 || die "build failed: .gpu/build.log"
  else
    die "build failed: .gpu/build.log"
  fi
fi

rm -rf "$out/stage"
mkdir -p "$stage/bin" "$stage/lib" "$stage/models"
for t in "${targets[@]}"; do
  f="$(find "$build" -type f -name "$t" -perm -u+x | head -1)"
  [[ -n "$f" ]] || die "built target $t not found under $build"
  cp "$f" "$stage/bin/"
  strip --strip-unneeded "$stage/bin/$t" 2>/dev/null || true
done

# Shared libraries: everything ldd resolves except the C/C++ runtime (the GPU machine's own) and
# the NVIDIA libraries that come from the driver or PyTorch's pip packages there.
skip_re='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libutil\.so|libstdc\+\+\.so|libgcc_s\.so|libcuda\.so|libcudnn|libcublas|libcublasLt|libnvrtc|libnvidia|libGLX_nvidia|libEGL_nvidia)'
declare -A seen=()
for f in "$stage"/bin/*; do
  while read -r name _ path _; do
    [[ -z "${name:-}" ]] && continue
    [[ "$name" =~ $skip_re ]] && continue
    [[ "$path" == "not" ]] && die "$f: $name not found by ldd"
    [[ -f "$path" ]] || continue
    [[ -n "${seen[$name]:-}" ]] && continue
    seen[$name]=1
    cp -L "$path" "$stage/lib/$name"
  done < <(ldd "$f" | grep '=>' || true)
done

# The bundled code must run with the GPU machine's glibc.
worst="0"
for f in "$stage"/bin/* "$stage"/lib/*; do
  v="$(objdump -T "$f" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)"
  [[ -n "$v" ]] || continue
  if [[ "$(printf '%s\n%s\n' "$v" "$worst" | sort -V | tail -1)" == "$v" ]]; then worst="$v"; fi
  if [[ "$(printf '%s\n%s\n' "$v" "$max_glibc" | sort -V | tail -1)" != "$max_glibc" ]]; then
    log "warning: $(basename "$f") needs GLIBC_$v (> $max_glibc)"
  fi
done

for m in ppocr_cls.onnx ppocrv4_rec.onnx ppocrv4_det.onnx ppocr_keys_v1.txt; do
  if [[ -f "$cache/models/$m" ]]; then cp "$cache/models/$m" "$stage/models/"; else log "warning: $cache/models/$m missing (run scripts/fetch-models.sh)"; fi
done

{
  echo "git $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$repo" diff --quiet 2>/dev/null || echo ' (dirty tree)')"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname) with $(/usr/local/cuda/bin/nvcc --version | tail -2 | head -1)"
  echo "cudnn headers $(grep -E '#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ' /usr/local/cuda/include/cudnn_version.h | awk '{print $3}' | paste -sd.)"
  echo "vulkan $vulkan; sm_90; max GLIBC needed $worst"
  echo "binaries: $(ls "$stage/bin" | paste -sd' ')"
  echo "libraries: $(ls "$stage/lib" | paste -sd' ')"
} >"$stage/MANIFEST"

log "packing (xz -9 -T2)"
tar -C "$out/stage" -cf - netlens-gpu | xz -9 -T2 >"$out/bundle.tar.xz.part"
mv "$out/bundle.tar.xz.part" "$out/bundle.tar.xz"
rm -rf "$out/stage"
size=$(stat -c %s "$out/bundle.tar.xz")
log "wrote .gpu/bundle.tar.xz ($((size / 1024 / 1024)) MiB; max GLIBC needed $worst)"
(( size < 40 * 1024 * 1024 )) || log "warning: bundle is over 40 MiB"
(( size < 60 * 1024 * 1024 )) || die "bundle is over 60 MiB; the device run carries at most 64 MiB"
