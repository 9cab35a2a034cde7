#!/usr/bin/env bash
# `netlens view MODEL --input FILE.png` under Xvfb (run by CTest), validation on: the script's
# `open PATH` (the same Viewer::open_file path as the Input panel's Load and a file dropped on the
# window) runs the model on other files through the live pipeline. Checks: the screenshot after
# opening an image equals the offscreen render of that image alone (same size, camera, title; the
# title block is masked: the subtitle carries live timings); a missing file and a file that is not an
# image each leave the view exactly as it was, with one error line on stderr naming the file; an image
# of another size is resized to the size the first input set (docs/live.md "Size"); --labels is taken.
# usage: view_open.sh NETLENS MODEL SAMPLES_DIR WORKDIR
set -u
netlens=$1 model=$2 samples=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
fail() { echo "view_open: FAIL: $*"; echo "--- stderr"; cat "$work/stderr"; exit 1; }
cp "$samples/line_192x48.png" "$work/a.png"
cp "$samples/line_192x48_flipped.png" "$work/b.png"
cp "$samples/line_320x48.png" "$work/c.png"
echo "this is text, not an image" > "$work/text.png"
printf '0\n180\n' > "$work/labels.txt"   # PP-OCR cls: text upright or turned

cat > "$work/script.txt" <<SCRIPT
frames 2               # panels on for two frames (--labels feeds the Predictions panel)
key h                  # panels off: the frames are compared with offscreen renders
frames 2
screenshot $work/shot_a.png
frames 1
open $work/b.png
wait-input
screenshot $work/shot_b.png
frames 1
open $work/missing.png
frames 2
screenshot $work/shot_missing.png
frames 1
open $work/text.png
frames 2
screenshot $work/shot_text.png
frames 1
open $work/c.png       # 320x48: resized to the first input's 192x48
wait-input
screenshot $work/shot_c.png
frames 1
close
SCRIPT

# --collapse none: the screenshots are compared with uncollapsed single-input renders.
timeout 150 "$netlens" view "$model" --input "$work/a.png" --labels "$work/labels.txt" --validation --size 480x300 --collapse none \
  --title live --script "$work/script.txt" > "$work/stdout" 2> "$work/stderr"
rc=$?
[ $rc -eq 0 ] || fail "netlens view exited with $rc"
grep -qi "validation error" "$work/stderr" && fail "validation errors reported"
for k in a b missing text c; do [ -s "$work/shot_$k.png" ] || fail "no screenshot $k"; done
[ "$(grep -c 'error' "$work/stderr")" -eq 2 ] || fail "expected exactly 2 error lines (missing, text)"
grep -q "^netlens view: error: .*missing.png: no such file$" "$work/stderr" || fail "no one-line error for the missing file"
grep -q "^netlens view: error: .*text.png" "$work/stderr" || fail "no one-line error for the text file"
grep -q "live: 2 inputs run (0 dropped, 0 failed), 2 shown" "$work/stderr" || fail "summary does not count 2 runs, 2 shown"

size=$(od -An -tu1 -j16 -N8 "$work/shot_a.png" | awk '{print $3*256+$4 "x" $7*256+$8}')
w=${size%x*} h=${size#*x}
mask() { convert "$1" -fill black -draw "rectangle 0,0 $((w-1)),70" "$2"; }
same() {  # a b: equal pixels below the title block
  mask "$1" "$work/m1.png"; mask "$2" "$work/m2.png"
  [ "$(compare -metric AE "$work/m1.png" "$work/m2.png" null: 2>&1)" = "0" ]
}
cmp_ref() {  # shot image
  "$netlens" render "$model" --input "$2" --input-size 192x48 --size "${w}x${h}" --title live --out "$work/ref.png" \
    > /dev/null 2>&1 || fail "reference render of $2 failed"
  same "$1" "$work/ref.png" || fail "$1 differs from the single-input render of $2"
}
cmp_ref "$work/shot_a.png" "$work/a.png"
cmp_ref "$work/shot_b.png" "$work/b.png"
cmp_ref "$work/shot_c.png" "$work/c.png"
same "$work/shot_missing.png" "$work/shot_b.png" || fail "a missing file changed the view"
same "$work/shot_text.png" "$work/shot_b.png" || fail "a file that is not an image changed the view"
same "$work/shot_a.png" "$work/shot_b.png" && fail "images a and b look the same"
echo "view_open: OK"
