#!/usr/bin/env bash
# CTest fixture setup for the model tests: writes every case's input and onnxruntime's value for
# every tensor of the model on it.
#   make_references.sh NODE RUN_JS EXPOSE_OUTPUTS MAKE_MODEL_INPUTS SAMPLES_DIR CACHE_DIR DATA_DIR
# NETLENS_CACHE_DIR in the environment overrides CACHE_DIR (as it does for scripts/fetch-models.sh).
# Layout written:
#   DATA/<model>.all.onnx       the model with every node output made a graph output
#   DATA/<model>.nodes.tsv      tensor, op type, node name for each node output (topological order)
#   DATA/<case>/input_x.npy     the input both engines run on (model.txt: which model)
#   DATA/<case>/ort/            onnxruntime's tensors (.npy) + index.tsv/index.json
set -euo pipefail
[[ $# == 7 ]] || { echo "usage: make_references.sh NODE RUN_JS EXPOSE MAKE_INPUTS SAMPLES CACHE DATA" >&2; exit 2; }
node=$1 run_js=$2 expose=$3 make_inputs=$4 samples=$5 cache=${NETLENS_CACHE_DIR:-$6} data=$7

fetch_hint="run scripts/fetch-models.sh first (it caches the models and onnxruntime-node in $cache)"
models=(ppocrv4_det ppocrv4_rec ppocr_cls)
for m in "${models[@]}"; do
  [[ -f "$cache/models/$m.onnx" ]] || { echo "model tests: $cache/models/$m.onnx is missing; $fetch_hint" >&2; exit 1; }
done
[[ -d "$cache/ort/node_modules/onnxruntime-node" ]] ||
  { echo "model tests: onnxruntime-node is not installed in $cache/ort; $fetch_hint" >&2; exit 1; }
[[ -n "$node" && -x "$node" ]] || { echo "model tests: node (Node.js) was not found at configure time; install it (scripts/setup.sh)" >&2; exit 1; }

rm -rf "$data"
mkdir -p "$data"
"$make_inputs" "$samples" "$data"
for m in "${models[@]}"; do
  "$expose" "$cache/models/$m.onnx" "$data/$m.all.onnx" "$data/$m.nodes.tsv" >/dev/null
done
export NETLENS_CACHE_DIR="$cache"
n=0
for dir in "$data"/*/; do
  c=$(basename "$dir")
  m=$(<"$dir/model.txt")
  m=${m%.onnx}
  [[ -f "$data/$m.all.onnx" ]] || { echo "model tests: case '$c' names an unknown model '$m'" >&2; exit 1; }
  # One intra-op thread: the reference does not need speed, and the machine is shared.
  "$node" "$run_js" "$data/$m.all.onnx" "$dir/ort" --input "x=$dir/input_x.npy" --threads 1
  echo "$c: $(wc -l <"$dir/ort/index.tsv") onnxruntime tensors"
  n=$((n + 1))
done
[[ $n -gt 0 ]] || { echo "model tests: make_model_inputs wrote no cases" >&2; exit 1; }
