#!/usr/bin/env bash
# Installs every build, test and run dependency of netlens from Debian's packages (and the npm
# registry for test models and the onnxruntime oracle, fetched later by scripts/fetch-models.sh).
# Idempotent and non-interactive. The CUDA toolkit is optional and not installed here:
# /usr/local/cuda is used when present (NETLENS_CUDA=AUTO).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
pkgs=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libprotobuf-dev protobuf-compiler libonnx-dev libonnx-testdata
  libdnnl-dev ocl-icd-opencl-dev opencl-c-headers  # oneDNN's CMake config requires OpenCL
  libvulkan-dev vulkan-tools glslc mesa-vulkan-drivers vulkan-validationlayers
  libglfw3-dev libglm-dev libstb-dev libimgui-dev fonts-dejavu-core
  libturbojpeg0-dev  # JPEG decoding (libjpeg-turbo; PNG and BMP go through stb)
  libgtest-dev libgmock-dev libbenchmark-dev
  xvfb xauth clang libclang-rt-14-dev
  python3 python3-numpy
  # Test oracles and data: PyTorch autograd/export (torchvision models), Pillow (resampling
  # reference), scikit-image (its sample photos), ImageMagick (image comparisons in tests), the
  # onnx module (the gradient oracle reads models with it), scikit-learn (its bundled 8x8 digits train
  # the timeline tests' networks).
  python3-torch python3-torchvision python3-pil python3-skimage python3-pytest python3-onnx python3-sklearn imagemagick
  # The Python module (issue 17): pybind11 and the headers of Debian's python3.
  pybind11-dev python3-dev
  nlohmann-json3-dev libavformat-dev libavcodec-dev libavdevice-dev libavutil-dev libswscale-dev ffmpeg
)
# The machine image may bring its own Node.js; Debian's nodejs conflicts with it.
command -v npm >/dev/null || pkgs+=(nodejs npm)
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "netlens setup: dependencies installed"
