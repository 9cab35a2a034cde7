#!/usr/bin/env bash
# Window smoke test for `netlens view` (run under xvfb-run by CTest): open a window, draw frames,
# pick and select, fly to a layer, resize, minimise/restore, toggle vsync and fly mode, save the
# camera and a screenshot, close; validation layers on (any validation error, leaked Vulkan objects
# included, makes netlens exit 1). Checks the outputs for meaning, not only the exit code.
# usage: view_smoke.sh NETLENS MODEL WORKDIR
set -u
netlens=$1 model=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
fail() { echo "view_smoke: FAIL: $*"; echo "--- stderr"; cat "$work/stderr"; echo "--- stdout"; cat "$work/stdout"; exit 1; }

# The focus camera of layer y at 640x400, as `netlens render` computes it: where F must fly to.
"$netlens" render "$model" --out "$work/ref.png" --size 640x400 --view layer:y --save-camera "$work/ref_cam.json" \
  > /dev/null 2>&1 || fail "netlens render failed"

cat > "$work/script.txt" <<SCRIPT
frames 2
click 320 165          # row 1 of the focused layer y (4x3 cells): selects a neuron of y
frames 2
drag 60 -20            # orbit away (y stays under the centre)
frames 2
focus 320 165          # F on y: animated flight back to its focus camera
frames 1
settle
save-camera $work/focus_cam.json
key esc                # clear the selection
frames 1
click 2 2              # background: prints null
frames 1
key o                  # fly to the overview
settle
resize 500 300
frames 3
iconify
frames 3
restore
frames 2
key v                  # vsync off (swapchain recreated)
frames 2
key tab                # fly mode: move and look
move 1 0 1 0.5
drag 15 5
frames 2
key tab
screenshot $work/shot.png
frames 2
close
SCRIPT

timeout 120 "$netlens" view "$model" --validation --size 640x400 --view layer:y --script "$work/script.txt" \
  > "$work/stdout" 2> "$work/stderr"
rc=$?
[ $rc -eq 0 ] || fail "netlens view exited with $rc"
grep -qi "validation error" "$work/stderr" && fail "validation errors reported"
[ "$(wc -l < "$work/stdout")" -eq 2 ] || fail "expected 2 pick lines on stdout"
head -1 "$work/stdout" | grep -q '^{"tensor": "y", "op": "Conv", "index": \[0, [0-9]*, [0-9]*\]' || fail "first click did not pick a neuron of y"
[ "$(sed -n 2p "$work/stdout")" = "null" ] || fail "click on the background should print null"
cmp -s "$work/ref_cam.json" "$work/focus_cam.json" || fail "F did not end on y's focus camera: $(cat "$work/focus_cam.json") vs $(cat "$work/ref_cam.json")"
[ -s "$work/shot.png" ] || fail "no screenshot"
# PNG IHDR: width and height, big-endian, at bytes 16..23.
size=$(od -An -tu1 -j16 -N8 "$work/shot.png" | awk '{print $3*256+$4 "x" $7*256+$8}')
[ "$size" = "500x300" ] || fail "screenshot is $size, not 500x300 after the resize"
echo "view_smoke: OK"
