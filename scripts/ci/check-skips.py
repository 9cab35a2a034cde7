"""Fails CI on any skipped test whose reason is not a missing GPU or camera.

    python3 check-skips.py JUNIT.xml [JUNIT.xml ...]

The test suite must not skip for a missing model, tool or data file on a machine set up by
scripts/setup.sh + fetch-models.sh + export-torchvision.sh: those skips hide a broken fresh-machine
set-up. A test may skip only when the machine lacks hardware this project cannot install: a CUDA
device (the GPU tests; the CUDA toolkit is there, the driver is not) or a camera. Its output must
say so; the reason is taken from the test's output (GTEST_SKIP's message, or what a shell test
printed before exiting with its skip code).
"""
import re
import sys
import xml.etree.ElementTree as ET

ALLOWED = re.compile(r"no usable CUDA|no CUDA|CUDA device|cudaError|CUDA driver|not the CUDA backend|"
                     r"no GPU|without a GPU|camera", re.I)


def reason(out):
    lines = [l.strip() for l in (out or "").splitlines() if l.strip()]
    # gtest: "<file>:<line>: Skipped\n<message>\n[  SKIPPED ] <test>"
    for i, l in enumerate(lines):
        if l.endswith("Skipped") and i + 1 < len(lines):
            return lines[i + 1]
    skipped = [l for l in lines if "SKIPPED" in l or "skip" in l.lower()]
    return (skipped or lines or ["(no output)"])[-1]


def main(paths):
    bad, ok = [], []
    for p in paths:
        for tc in ET.parse(p).getroot().iter("testcase"):
            if tc.find("skipped") is None:
                continue
            out = tc.findtext("system-out") or ""
            why = reason(out)
            (ok if ALLOWED.search(out) else bad).append((tc.get("name"), why))
    for name, why in ok:
        print(f"skipped (allowed: no GPU/camera): {name}: {why}")
    for name, why in bad:
        print(f"SKIPPED WITHOUT A HARDWARE REASON: {name}: {why}")
    print(f"skip policy: {len(ok)} allowed skip(s), {len(bad)} not allowed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
