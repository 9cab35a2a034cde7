#!/usr/bin/env bash
# Errors inside the viewer's input handlers (GLFW callbacks are C: nothing may unwind through them)
# are one line on stderr and the viewer goes on (run under xvfb-run by CTest). The script's `key`
# goes through the same handler as the window's key callback: C (save the camera) where its file
# cannot be written (a folder has that name), then a screenshot into a missing folder (written at
# the end of a frame); after both, frames are still drawn, a screenshot still written, exit 0.
# usage: view_errors.sh NETLENS MODEL WORKDIR
set -u
netlens=$1 model=$2 work=$3
rm -rf "$work" && mkdir -p "$work/netlens-camera-1.json"  # where C writes its first file
fail() { echo "view_errors: FAIL: $*"; echo "--- stderr"; cat "$work/stderr"; exit 1; }

cat > "$work/script.txt" <<SCRIPT
frames 2
key c
frames 2
screenshot $work/missing/shot.png
frames 2
screenshot $work/after.png
frames 2
close
SCRIPT

(cd "$work" && timeout 120 "$netlens" view "$model" --input-shape x=1x3x48x192 --size 480x300 --script "$work/script.txt" \
  > "$work/stdout" 2> "$work/stderr")
rc=$?
[ $rc -eq 0 ] || fail "netlens view exited with $rc"
[ "$(grep -c "^netlens view: error: cannot write camera file 'netlens-camera-1.json'$" "$work/stderr")" -eq 1 ] ||
  fail "expected one line for the camera file that cannot be written"
[ "$(grep -c "^netlens view: error: cannot write PNG '$work/missing/shot.png'" "$work/stderr")" -eq 1 ] ||
  fail "expected one line for the screenshot that cannot be written"
[ "$(grep -c "^netlens view: error:" "$work/stderr")" -eq 2 ] || fail "expected exactly the two error lines"
[ -s "$work/after.png" ] || fail "the viewer did not go on after the errors (no screenshot after them)"
echo "view_errors: OK"
