#!/usr/bin/env bash
# Safety net for restructuring the top floors (render, app, live, ui, cli): renders the sample models
# offscreen on lavapipe in every kind of frame the CLI can make (overview, close-up, a selection,
# --ui, --values gradient/attribution, --pick output, live folder frames), then writes the sha256 of
# every output to OUT_DIR/snapshots.sha256. Before and after a change that must not alter what is
# drawn, the two lists are identical (pixel for pixel: the PNG encoder is deterministic).
#
#   scripts/render-snapshots.sh OUT_DIR [--check LIST] [--netlens PATH]
#     --check LIST  compare with a recorded list (tests/render/snapshots/lavapipe.sha256); exit 1
#                   and print the differing files when they differ
#
# Lavapipe only: the ICD is forced, so a machine with a GPU still renders on the CPU and the hashes
# stay comparable. Needs the models from scripts/fetch-models.sh (.cache/models) and scikit-image's
# sample photos (python3-skimage, /usr/lib/python3/dist-packages/skimage/data).
# Takes about two minutes on two cores (PP-OCRv4 det is the slow part).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="" check="" netlens=""
while [ $# -gt 0 ]; do
  case "$1" in
    --check) check="$2"; shift 2 ;;
    --netlens) netlens="$2"; shift 2 ;;
    -*) echo "render-snapshots: unknown flag $1" >&2; exit 2 ;;
    *) [ -z "$out" ] || { echo "render-snapshots: one OUT_DIR only" >&2; exit 2; }; out="$1"; shift ;;
  esac
done
[ -n "$out" ] || { echo "usage: scripts/render-snapshots.sh OUT_DIR [--check LIST] [--netlens PATH]" >&2; exit 2; }
if [ -z "$netlens" ]; then
  for c in "$repo/build/netlens" "$repo/build/src/cli/netlens"; do
    if [ -x "$c" ]; then netlens="$c"; break; fi
  done
fi
[ -x "$netlens" ] || { echo "render-snapshots: no netlens binary (build it, or pass --netlens)" >&2; exit 1; }
models="$repo/.cache/models" samples="$repo/assets/samples" sk=/usr/lib/python3/dist-packages/skimage/data
for f in "$models/ppocrv4_det.onnx" "$models/ppocr_cls.onnx" "$models/ppocrv4_rec.onnx" "$sk/coffee.png" "$sk/text.png"; do
  [ -f "$f" ] || { echo "render-snapshots: $f is missing" >&2; exit 1; }
done
lvp=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
[ -f "$lvp" ] || { echo "render-snapshots: lavapipe ($lvp) is not installed" >&2; exit 1; }
export VK_ICD_FILENAMES="$lvp" VK_DRIVER_FILES="$lvp"

rm -rf "$out"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
log="$out/log.txt"
: >"$log"
det=(--bgr --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)
rec=(--bgr --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5)
# One render; stdout (the --pick line) is kept as NAME.pick.txt when non-empty.
r() {
  local name="$1"; shift
  echo "+ netlens render $*" >>"$log"
  "$netlens" render "$@" --quiet --out "$out/$name.png" >"$out/$name.pick.txt" 2>>"$log" ||
    { echo "render-snapshots: '$name' failed (see $log)" >&2; tail -3 "$log" >&2; exit 1; }
  [ -s "$out/$name.pick.txt" ] || rm -f "$out/$name.pick.txt"
}

# PP-OCRv4 det on the text page (smaller input, so the CPU run stays short).
d="$models/ppocrv4_det.onnx"
di=(--input "$samples/page_800x608.png" --input-size 320x256 "${det[@]}")
r det_overview "$d" "${di[@]}" --size 800x450 --pick 400,225
r det_closeup "$d" "${di[@]}" --size 800x450 --view layer:sigmoid_0.tmp_0 --pick 400,225
r det_select "$d" "${di[@]}" --size 800x450 --view layer:sigmoid_0.tmp_0 --select sigmoid_0.tmp_0:0,100,200

# ppocr cls on a text line: every frame kind, cheaply.
c="$models/ppocr_cls.onnx"
ci=(--input "$samples/line_192x48.png" --input-size 192x48 "${rec[@]}")
r cls_overview "$c" "${ci[@]}" --size 640x360 --pick 320,180
r cls_closeup "$c" "${ci[@]}" --size 640x360 --view layer:p2o.Clip.23
r cls_select "$c" "${ci[@]}" --size 640x360 --select "p2o.Clip.23:[97, 1, 95]"
r cls_select_overview "$c" "${ci[@]}" --size 640x360 --select p2o.Clip.23:100 --lod-mean
r cls_ui "$c" "${ci[@]}" --size 1280x720 --ui --pick 640,360
r cls_ui_select "$c" "${ci[@]}" --size 1280x720 --ui --view layer:p2o.Clip.23 --select p2o.Clip.23:0,1,2
r cls_gradient "$c" "${ci[@]}" --size 640x360 --values gradient --pick 320,180
r cls_attribution "$c" "${ci[@]}" --size 640x360 --values attribution --target class:1 --score prob
r cls_gradient_ui "$c" "${ci[@]}" --size 1280x720 --values gradient --ui

# PP-OCRv4 rec on a text line.
rm_="$models/ppocrv4_rec.onnx"
ri=(--input "$samples/line_320x48.png" --input-size 320x48 "${rec[@]}")
r rec_overview "$rm_" "${ri[@]}" --size 800x450
r rec_closeup "$rm_" "${ri[@]}" --size 800x450 --view layer:p2o.Add.5 --pick 400,225
r rec_select "$rm_" "${ri[@]}" --size 800x450 --view layer:p2o.Add.5 --select p2o.Add.5:5
r rec_ui "$rm_" "${ri[@]}" --size 1280x720 --ui

# Live folders: one PNG per input through the live pipeline (staging on lavapipe).
mkdir -p "$out/in_cls" "$out/in_det"
cp "$samples/line_192x48.png" "$samples/line_192x48_flipped.png" "$samples/line_320x48.png" "$out/in_cls/"
cp "$sk/coffee.png" "$sk/text.png" "$samples/page_800x608.png" "$out/in_det/"
live() {
  local name="$1" model="$2" dir="$3"; shift 3
  echo "+ netlens render $model --input $dir $*" >>"$log"
  "$netlens" render "$model" --input "$dir" --quiet --out "$out/$name/" "$@" >/dev/null 2>>"$log" ||
    { echo "render-snapshots: live '$name' failed (see $log)" >&2; tail -3 "$log" >&2; exit 1; }
}
live live_cls "$c" "$out/in_cls" --input-size 192x48 "${rec[@]}" --size 640x360 --max-inputs 3
live live_cls_closeup "$c" "$out/in_cls" --input-size 192x48 "${rec[@]}" --size 640x360 --max-inputs 3 \
  --view layer:p2o.Clip.23 --select p2o.Clip.23:7
live live_det "$d" "$out/in_det" --input-size 320x256 "${det[@]}" --size 800x450 --max-inputs 3

(cd "$out" && find . -type f \( -name '*.png' -o -name '*.pick.txt' \) ! -path './in_*' | sed 's|^\./||' | LC_ALL=C sort |
  xargs sha256sum) >"$out/snapshots.sha256"
n=$(wc -l <"$out/snapshots.sha256")
echo "render-snapshots: $n files hashed into $out/snapshots.sha256"
if [ -n "$check" ]; then
  if diff -u "$check" "$out/snapshots.sha256" >"$out/diff.txt"; then
    echo "render-snapshots: identical to $check"
  else
    echo "render-snapshots: DIFFERENT from $check:" >&2
    grep '^[-+][0-9a-f]' "$out/diff.txt" >&2 || true
    exit 1
  fi
fi
