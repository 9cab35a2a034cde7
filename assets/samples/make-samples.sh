#!/usr/bin/env bash
# Regenerates the committed sample images (needs ImageMagick's /usr/bin/convert and DejaVu fonts).
# The PNGs are committed, so tests never need ImageMagick; rerun only to change them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
bold=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
serif=/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf
mono=/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf

# A text page for PP-OCR det: 800x608, black lines on white, one coloured, one rotated, one on a tint.
/usr/bin/convert -size 800x608 xc:white \
  -font "$bold" -pointsize 40 -fill black -annotate +40+80 'netlens: see inside a network' \
  -font "$font" -pointsize 28 -fill black -annotate +40+150 'Every activation of the run is kept.' \
  -font "$serif" -pointsize 28 -fill black -annotate +40+210 'Conv, BatchNorm, ReLU, Resize, Sigmoid' \
  -font "$font" -pointsize 30 -fill '#1f4fbf' -annotate +40+275 'Coloured text: 42 layers, 3.1 MB' \
  -font "$mono" -pointsize 24 -fill '#b01818' -annotate +40+335 'x = softmax(W * h + b)  # 2026-11-27' \
  -fill '#e8e0c8' -draw 'rectangle 30,470 560,540' \
  -font "$font" -pointsize 30 -fill black -annotate 8x8+60+400 'A slightly rotated line of text' \
  -font "$serif" -pointsize 32 -fill '#202020' -annotate +45+518 'Text on a tinted box' \
  -font "$font" -pointsize 20 -fill '#404040' -annotate -90x-90+740+560 'vertical side note' \
  -strip PNG24:page_800x608.png

# A single text line for PP-OCRv4 rec (48 high, 320 wide).
/usr/bin/convert -size 320x48 xc:white -font "$font" -pointsize 30 -fill black \
  -gravity west -annotate +8+0 'Hello netlens 42' -strip PNG24:line_320x48.png

# A shorter line for the direction classifier (48 high, 192 wide), upright and upside down.
/usr/bin/convert -size 192x48 xc:white -font "$font" -pointsize 28 -fill black \
  -gravity west -annotate +6+0 'OCR test 7' -strip PNG24:line_192x48.png
/usr/bin/convert line_192x48.png -rotate 180 -strip PNG24:line_192x48_flipped.png
