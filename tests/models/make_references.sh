#!/usr/bin/env bash
# CTest fixture setup for the model tests: writes every case's input and onnxruntime's value for
# every tensor of the model on it.
#   make_references.sh NODE RUN_JS EXPOSE_OUTPUTS MAKE_MODEL_INPUTS SAMPLES_DIR CACHE_DIR DATA_DIR [--torchvision]
# NETLENS_CACHE_DIR in the environment overrides CACHE_DIR (as it does for scripts/fetch-models.sh).
# Layout written:
#   DATA/<model>.all.onnx       the model with every node output made a graph output
#   DATA/<model>.nodes.tsv      tensor, op type, node name for each node output (topological order)
#   DATA/<case>/input.npy       the input both engines run on (model.txt: model file, input name)
#   DATA/<case>/ort/            onnxruntime's tensors (.npy) + index.tsv/index.json
set -euo pipefail
[[ $# == 7 || $# == 8 ]] ||
  { echo "usage: make_references.sh NODE RUN_JS EXPOSE MAKE_INPUTS SAMPLES CACHE DATA [--torchvision]" >&2; exit 2; }
node=$1 run_js=$2 expose=$3 make_inputs=$4 samples=$5 cache=${NETLENS_CACHE_DIR:-$6} data=$7 extra=${8:-}

[[ -d "$cache/ort/node_modules/onnxruntime-node" ]] || {
  echo "model tests: onnxruntime-node is not installed in $cache/ort; run scripts/fetch-models.sh first" >&2
  exit 1
}
[[ -n "$node" && -x "$node" ]] || { echo "model tests: node (Node.js) was not found at configure time; install it (scripts/setup.sh)" >&2; exit 1; }

rm -rf "$data"
mkdir -p "$data"
"$make_inputs" "$samples" "$data" ${extra:+"$extra"}

# Every model the cases use must be there; say which script provides a missing one.
missing=0
# shellcheck disable=SC2013  # model file names have no spaces (make_model_inputs writes them)
for m in $(cat "$data"/*/model.txt | cut -d' ' -f1 | sort -u); do
  if [[ ! -f "$cache/models/$m" ]]; then
    case $m in
      ppoc*) hint="scripts/fetch-models.sh" ;;
      *) hint="scripts/export-torchvision.sh" ;;
    esac
    echo "model tests: $cache/models/$m is missing; run $hint first" >&2
    missing=1
    continue
  fi
  "$expose" "$cache/models/$m" "$data/${m%.onnx}.all.onnx" "$data/${m%.onnx}.nodes.tsv" >/dev/null
done
[[ $missing == 0 ]] || exit 1

export NETLENS_CACHE_DIR="$cache"
n=0
for dir in "$data"/*/; do
  c=$(basename "$dir")
  read -r m input <"$dir/model.txt"
  # One intra-op thread: the reference does not need speed, and the machine is shared.
  "$node" "$run_js" "$data/${m%.onnx}.all.onnx" "$dir/ort" --input "$input=$dir/input.npy" --threads 1
  echo "$c: $(wc -l <"$dir/ort/index.tsv") onnxruntime tensors"
  n=$((n + 1))
done
[[ $n -gt 0 ]] || { echo "model tests: make_model_inputs wrote no cases" >&2; exit 1; }
