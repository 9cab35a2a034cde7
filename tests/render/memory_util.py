"""Helpers of the peak-memory tests (test_render_memory.py, test_model_memory.py): a child's peak
RSS, and byte figures read from `netlens info`'s output."""
import os
import re
import subprocess
import sys


def peak_rss_mib(cmd):
    """Runs cmd; returns (exit status, child's peak RSS in MiB, stderr)."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read().decode(errors="replace")
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru.ru_maxrss / 1024.0, err


def size_mib(text, what):
    """The first 'WHAT ... N KiB|MiB|GiB' figure of text in MiB; without one the calling test
    fails ("<script>: FAIL: ...", exit 1)."""
    m = re.search(what + r"\D*?([0-9.]+) (KiB|MiB|GiB)", text)
    if not m:
        name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
        print("%s: FAIL: no '%s' figure in netlens info's output:\n%s" % (name, what, text))
        sys.exit(1)
    return float(m.group(1)) * {"KiB": 1 / 1024.0, "MiB": 1.0, "GiB": 1024.0}[m.group(2)]
