#!/bin/sh
# The View panel's colour scales in `netlens view` (Xvfb, lavapipe, validation on): switching to a
# global scale rebuilds the 3D scene (the frame changes), and switching back to per layer p1..p99
# rebuilds the default scene (the frame equals the first one, pixel for pixel).
# Usage: view_scale.sh NETLENS MODEL INPUT WORKDIR   (exit 77: skipped)
set -eu
netlens=$1 model=$2 input=$3 work=$4
command -v xvfb-run > /dev/null || { echo "xvfb-run not found (scripts/setup.sh installs xvfb)"; exit 77; }
command -v compare > /dev/null || { echo "ImageMagick's compare not found"; exit 77; }
[ -f "$model" ] || { echo "$model missing: run scripts/fetch-models.sh"; exit 77; }
mkdir -p "$work"
cat > "$work/script.txt" <<END
frames 3
key h
frames 2
screenshot $work/layer.png
frames 2
scale global
frames 2
screenshot $work/global.png
frames 2
scale layer 1 99
frames 2
screenshot $work/back.png
frames 2
close
END
timeout 120 xvfb-run -a -s '-screen 0 1280x1024x24' "$netlens" view "$model" --input "$input" --size 800x500 \
  --validation --script "$work/script.txt" > "$work/out.txt" 2>&1 || { cat "$work/out.txt"; echo "netlens view failed"; exit 1; }
# compare -metric AE prints the number of differing pixels on stderr (exit 1 when they differ).
changed=$(compare -metric AE "$work/layer.png" "$work/global.png" null: 2>&1 || true)
same=$(compare -metric AE "$work/layer.png" "$work/back.png" null: 2>&1 || true)
echo "pixels changed by the global scale: $changed; after switching back: $same"
[ "$changed" -gt 1000 ] || { echo "the global scale did not recolour the 3D view"; exit 1; }
[ "$same" -eq 0 ] || { echo "per layer p1..p99 again did not give the first frame back"; exit 1; }
