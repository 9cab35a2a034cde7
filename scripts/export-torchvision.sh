#!/usr/bin/env bash
# Exports ResNet-50, MobileNetV2, VGG-16, EfficientNet-B0 and ViT-B/16 (torchvision, random
# weights, no download) to $NETLENS_CACHE_DIR/models/<name>.onnx (default <repo>/.cache), opset 17,
# input "input" 1x3x224x224.
#
#   scripts/export-torchvision.sh [--opset N] [--force] [resnet50 mobilenet_v2 vgg16 efficientnet_b0 vit_b_16]
#
# Uses Debian's python (/usr/bin/python3) with Debian's python3-torch and python3-torchvision,
# installed with apt-get when missing. Models already exported are kept unless --force.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${NETLENS_CACHE_DIR:-$repo/.cache}"
py=/usr/bin/python3

opset=17 force=0 names=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --opset) opset=${2:?--opset needs a value}; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "export-torchvision: unknown option $1" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
[[ ${#names[@]} -gt 0 ]] || names=(resnet50 mobilenet_v2 vgg16 efficientnet_b0 vit_b_16)

todo=()
for n in "${names[@]}"; do
  [[ $force == 1 || ! -s "$cache/models/$n.onnx" ]] && todo+=("$n")
done
if [[ ${#todo[@]} -gt 0 ]]; then
  [[ -x $py ]] || { echo "export-torchvision: $py is missing (apt-get install python3)" >&2; exit 1; }
  if ! "$py" -c 'import torch, torchvision' 2>/dev/null; then
    echo "export-torchvision: installing python3-torch python3-torchvision (apt-get)" >&2
    sudo=""
    [[ $(id -u) == 0 ]] || sudo=sudo
    $sudo apt-get install -y --no-install-recommends python3-torch python3-torchvision >&2 ||
      { echo "export-torchvision: apt-get install python3-torch python3-torchvision failed" >&2; exit 1; }
  fi
  mkdir -p "$cache/models"
  OMP_NUM_THREADS=2 "$py" "$repo/scripts/export_torchvision.py" "$cache/models" --opset "$opset" "${todo[@]}"
fi
for n in "${names[@]}"; do echo "$cache/models/$n.onnx"; done
