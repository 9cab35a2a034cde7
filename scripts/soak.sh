#!/usr/bin/env bash
# Soak: the live viewer (netlens view, Xvfb + lavapipe) over a looping folder of real photos for a
# set time, sampling its memory once a second; fails when memory is not flat.
#
#   scripts/soak.sh [--seconds N] [--model M.onnx] [--netlens BIN] [--out DIR] [--slideshow S]
#
# Defaults: 60 s, .cache/models/ppocr_cls.onnx, build/src/cli/netlens, out/soak, 0.1 s per image.
# The folder: the sample images in assets/samples plus scikit-image's photos (Debian's
# python3-skimage) at their own odd sizes, so every input is resized. Writes DIR/memory.csv
# (seconds, RSS in KiB, device memory in MiB where nvidia-smi can say; on lavapipe device memory is
# host memory and part of RSS) and DIR/stderr.txt, and prints a summary.
#
# The rule ("flat"): after a warm-up (the first quarter of the run, at most 60 s), the median RSS of
# the last quarter of the samples exceeds the median of the first post-warm-up quarter by at most
# 5% + 16 MiB. The least-squares slope over the post-warm-up samples is reported as MiB per hour.
# Also: the viewer must still be running at the end (no crash), have run at least max(5, N/10)
# inputs (its exit summary), and close cleanly within 20 s of SIGTERM (its "terminated: closing"
# line and summary; no stuck thread).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds=60 model="$repo/.cache/models/ppocr_cls.onnx" netlens="$repo/build/src/cli/netlens" out="$repo/out/soak"
slideshow=0.1
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --netlens) netlens=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --slideshow) slideshow=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "soak: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 10 ]] || { echo "soak: --seconds must be an integer >= 10" >&2; exit 2; }
[[ -x "$netlens" ]] || { echo "soak: $netlens not built" >&2; exit 1; }
[[ -f "$model" ]] || { echo "soak: $model missing (scripts/fetch-models.sh)" >&2; exit 1; }
command -v xvfb-run >/dev/null || { echo "soak: xvfb-run missing (scripts/setup.sh installs xvfb)" >&2; exit 1; }

rm -rf "$out" && mkdir -p "$out/in"
cp "$repo"/assets/samples/*.png "$out/in/"
sk=/usr/lib/python3/dist-packages/skimage/data
for f in chelsea.png coffee.png astronaut.png camera.png rocket.jpg; do
  [[ -f "$sk/$f" ]] && cp "$sk/$f" "$out/in/sk_$f"
done
echo "soak: $(ls "$out/in" | wc -l) images, ${seconds}s, model $(basename "$model"), slideshow ${slideshow}s"

xvfb-run -a -s "-screen 0 1280x1024x24" "$netlens" view "$model" --input "$out/in" --slideshow "$slideshow" \
  --no-vsync 2>"$out/stderr.txt" >"$out/stdout.txt" &
runner=$!
# The viewer is xvfb-run's child; find it to sample its memory.
pid=""
for _ in $(seq 1 100); do
  pid=$(pgrep -f "^$netlens view $model" | head -1 || true)
  [[ -n "$pid" ]] && break
  sleep 0.1
done
[[ -n "$pid" ]] || { echo "soak: FAIL: the viewer did not start"; cat "$out/stderr.txt"; exit 1; }

have_smi=0
command -v nvidia-smi >/dev/null && nvidia-smi >/dev/null 2>&1 && have_smi=1
echo "seconds,rss_kib,device_mib" > "$out/memory.csv"
start_ms=$(( $(date +%s%N) / 1000000 ))
while :; do
  ms=$(( $(date +%s%N) / 1000000 - start_ms ))
  (( ms >= seconds * 1000 )) && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "soak: FAIL: the viewer exited after $((ms / 1000))s"; tail -5 "$out/stderr.txt"; exit 1
  fi
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo "")
  dev=""
  if [[ $have_smi == 1 ]]; then
    dev=$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null |
          awk -F', ' -v p="$pid" '$1 == p {print $2}')
  fi
  [[ -n "$rss" ]] && printf '%d.%03d,%s,%s\n' $((ms / 1000)) $((ms % 1000)) "$rss" "$dev" >> "$out/memory.csv"
  sleep 1
done

kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
  kill -KILL "$pid" 2>/dev/null || true
  echo "soak: FAIL: the viewer did not exit within 20 s of SIGTERM"; exit 1
fi
wait "$runner" 2>/dev/null || true

python3 - "$out/memory.csv" "$out/stderr.txt" "$seconds" <<'PY'
import re, statistics, sys
rows = [l.split(",") for l in open(sys.argv[1]).read().splitlines()[1:]]
t = [float(r[0]) for r in rows]
rss = [int(r[1]) / 1024 for r in rows]  # MiB
dev = [float(r[2]) for r in rows if len(r) > 2 and r[2]]
secs = float(sys.argv[3])
warm = min(secs / 4, 60.0)
post = [(a, b) for a, b in zip(t, rss) if a >= warm]
if len(post) < 8:
    sys.exit(f"soak: FAIL: only {len(post)} samples after the warm-up")
q = max(2, len(post) // 4)
first = statistics.median(b for _, b in post[:q])
last = statistics.median(b for _, b in post[-q:])
xs = [a for a, _ in post]; ys = [b for _, b in post]
mx, my = statistics.fmean(xs), statistics.fmean(ys)
slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / max(1e-9, sum((x - mx) ** 2 for x in xs))
err = open(sys.argv[2], errors="replace").read()
runs = [int(n) for n in re.findall(r"live: (\d+) inputs run", err)]
closed = "terminated: closing" in err
allowed = first * 0.05 + 16
flat = last - first <= allowed
print(f"soak: {len(rows)} samples over {t[-1]:.0f}s; RSS start {rss[0]:.0f} MiB, peak {max(rss):.0f} MiB; "
      f"post-warm-up first-quarter median {first:.1f} MiB, last-quarter median {last:.1f} MiB "
      f"(growth {last - first:+.1f} MiB, allowed {allowed:.1f}); slope {slope * 3600:+.1f} MiB/h")
if dev:
    print(f"soak: device memory {min(dev):.0f}..{max(dev):.0f} MiB")
else:
    print("soak: device memory: lavapipe (host memory, included in RSS)")
need_runs = max(5, int(secs / 10))
print(f"soak: viewer summary: {runs[-1] if runs else 'none'} inputs run (at least {need_runs} needed)"
      f"{', closed cleanly on SIGTERM' if closed else ''}")
if not flat:
    sys.exit(f"soak: FAIL: memory grew by {last - first:.1f} MiB (> {allowed:.1f} MiB)")
if not closed or not runs:
    sys.exit("soak: FAIL: the viewer did not close cleanly on SIGTERM (no 'terminated: closing' and summary)")
if runs[-1] < need_runs:
    sys.exit(f"soak: FAIL: only {runs[-1]} inputs were run in {secs:.0f} s")
PY
