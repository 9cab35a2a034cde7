#!/usr/bin/env bash
# `netlens view MODEL --input DIR` under Xvfb (run by CTest), validation on: a script steps through
# a folder of three images (next, next, prev) waiting for each result, and takes a screenshot of
# each. Checks: the start line names the path in use, the screenshot of image k equals the offscreen
# render of image k alone (same size, camera and title: the in-place update shows that input's
# activations and nothing else), consecutive images differ, the exit summary counts the runs.
# Then a short video, paused and resumed, must end showing its last frame.
# usage: view_live_smoke.sh NETLENS MODEL SAMPLES_DIR WORKDIR
set -u
netlens=$1 model=$2 samples=$3 work=$4
rm -rf "$work" && mkdir -p "$work/in"
fail() { echo "view_live_smoke: FAIL: $*"; echo "--- stderr"; cat "$work/stderr"; exit 1; }
cp "$samples/line_192x48.png" "$work/in/a.png"
cp "$samples/line_192x48_flipped.png" "$work/in/b.png"
cp "$samples/line_320x48.png" "$work/in/c.png"

cat > "$work/script.txt" <<SCRIPT
key h                  # panels off: the frames are compared with offscreen renders
frames 2
wait-input
screenshot $work/shot0.png
frames 1
next
wait-input
screenshot $work/shot1.png
frames 1
next
wait-input
screenshot $work/shot2.png
frames 1
prev
wait-input
screenshot $work/shot1b.png
frames 1
key right              # the key does what 'next' does
wait-input
screenshot $work/shot2b.png
frames 1
close
SCRIPT

# --collapse none: the frames are compared with uncollapsed single-input renders (ppocr cls's 197
# layers would start collapsed; app.ViewTest.CollapsedViewTakesLiveResultsOfTheFullLayout covers that).
timeout 150 "$netlens" view "$model" --input "$work/in" --validation --size 480x300 --title live --collapse none \
  --script "$work/script.txt" > "$work/stdout" 2> "$work/stderr"
rc=$?
[ $rc -eq 0 ] || fail "netlens view exited with $rc"
grep -qi "validation error" "$work/stderr" && fail "validation errors reported"
grep -q "live: cpu backend + staging upload (" "$work/stderr" || fail "no start line naming the live path"
grep -q "live: 4 inputs run (0 dropped, 0 failed), 4 shown" "$work/stderr" || fail "summary does not count 4 runs, 4 shown"
for k in 0 1 2 1b 2b; do [ -s "$work/shot$k.png" ] || fail "no screenshot $k"; done
size=$(od -An -tu1 -j16 -N8 "$work/shot0.png" | awk '{print $3*256+$4 "x" $7*256+$8}')

# Offscreen references at the window's framebuffer size. The subtitle line carries live timings, so
# compare with the title block masked: rows below it (the network, labels, legend) must be equal.
w=${size%x*} h=${size#*x}
cmp_shot() {  # shot ref
  "$netlens" render "$model" --input "$2" --input-size 192x48 --size "${w}x${h}" --title live --out "$work/ref.png" \
    > /dev/null 2>&1 || fail "reference render of $2 failed"
  convert "$1" -fill black -draw "rectangle 0,0 $((w-1)),70" "$work/a.png"
  convert "$work/ref.png" -fill black -draw "rectangle 0,0 $((w-1)),70" "$work/b.png"
  diff=$(compare -metric AE "$work/a.png" "$work/b.png" null: 2>&1)
  [ "$diff" = "0" ] || fail "$1 differs from the single-input render of $2 in $diff pixels"
}
cmp_shot "$work/shot0.png" "$work/in/a.png"
cmp_shot "$work/shot1.png" "$work/in/b.png"
cmp_shot "$work/shot2.png" "$work/in/c.png"
cmp_shot "$work/shot1b.png" "$work/in/b.png"
cmp_shot "$work/shot2b.png" "$work/in/c.png"
d=$(compare -metric AE "$work/shot0.png" "$work/shot1.png" null: 2>&1)
[ "$d" != "0" ] || fail "images 0 and 1 look the same"

# A video (lossless FFV1, 3 frames at 5 fps), paused and resumed: when the script's wait-input
# returns the video has ended, every frame after the first was run or dropped (counted), and the
# frame shows the last one (the newest input is never dropped): equal to its single-input render.
if command -v ffmpeg > /dev/null; then
  ffmpeg -loglevel error -y -framerate 5 -pattern_type glob -i "$work/in/*.png" -vf scale=192:48 -c:v ffv1 -pix_fmt bgr0 \
    "$work/clip.mkv" < /dev/null || fail "ffmpeg could not make the clip"
  ffmpeg -loglevel error -y -i "$work/clip.mkv" -vf "select=eq(n\\,2)" -frames:v 1 -pix_fmt rgb24 "$work/last.png" \
    < /dev/null || fail "ffmpeg could not extract the last frame"
  cat > "$work/video.txt" <<SCRIPT
key h
pause
frames 3
key space              # resume (Space does what 'pause' does)
wait-input
screenshot $work/video_last.png
frames 1
close
SCRIPT
  timeout 150 "$netlens" view "$model" --input "$work/clip.mkv" --validation --size 480x300 --title live --collapse none \
    --script "$work/video.txt" > "$work/stdout" 2> "$work/stderr"
  rc=$?
  [ $rc -eq 0 ] || fail "netlens view (video) exited with $rc"
  grep -q "video .*clip.mkv (ffv1 192x48" "$work/stderr" || fail "no start line naming the video"
  grep -q "input paused" "$work/stderr" && grep -q "input playing" "$work/stderr" || fail "pause/resume not reported"
  runs=$(sed -n 's/.*live: \([0-9]*\) inputs run (\([0-9]*\) dropped, 0 failed).*/\1+\2/p' "$work/stderr")
  [ -n "$runs" ] && [ $((runs)) -eq 2 ] || fail "expected runs + dropped = 2 (frames 1 and 2), got '$runs'"
  cmp_shot "$work/video_last.png" "$work/last.png"
fi
echo "view_live_smoke: OK"
