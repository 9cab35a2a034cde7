"""A fresh machine passes: every program and Python module that the tests, the fetch/export scripts
and the main job call is installed by scripts/setup.sh.

    python3 check_setup.py REPO

1. Discovers what the suite calls, by reading the sources: CMake find_program() names, literal
   "/usr/bin/NAME" paths, `command -v NAME` / `need NAME` checks in shell scripts, and the Python
   modules imported by the project's Python scripts (tests/ and scripts/) or whose data files the
   tests read (/usr/lib/python3/dist-packages/MODULE/...).
2. Every discovered program and module must be in DECLARED below (so a new dependency cannot slip
   in unnoticed), and every declared one must be used somewhere (no stale entries).
3. Every declared program/module must be installed here, and the Debian package that owns its file
   (dpkg -S) must be in the dependency closure of the packages scripts/setup.sh installs
   (apt-cache depends --recurse). A program the machine image brings itself (node/npm) is accepted
   only when setup.sh installs it conditionally (`command -v NAME || pkgs+=(...)`).
Exits 1 with one line per problem.
"""
import os
import re
import subprocess
import sys

# program or "py:module" -> why the suite needs it
DECLARED = {
    "ffmpeg": "media tests decode videos independently; tests make test videos",
    "convert": "ImageMagick: independent image decoder/renderer in media, inspect and render tests",
    "compare": "ImageMagick: image differences in the viewer tests",
    "xvfb-run": "window tests (view) under a virtual X server",
    "node": "onnxruntime-node, the inference oracle",
    "npm": "fetch-models.sh fetches models and onnxruntime-node",
    "python3": "oracles: PyTorch, Pillow, NumPy; model exports",
    "clang++": "libFuzzer targets (scripts/run-fuzz.sh)",
    "glslc": "shaders compiled at build time",
    "cmake": "the build",
    "ninja": "the build",
    "git": "scripts read the checkout",
    "sha256sum": "fetch-models.sh checks what it fetched",
    "py:numpy": "oracles and reference computations",
    "py:torch": "model exports (torch.onnx), the gradient oracle",
    "py:torchvision": "ResNet-50, MobileNetV2, VGG-16 exports",
    "py:PIL": "Pillow: the resampling reference",
    "py:skimage": "scikit-image: its sample photos are test inputs",
    "py:onnx": "the gradient oracle (tests/grad/torch_oracle.py) reads ONNX graphs with it",
    "py:sklearn": "scikit-learn's bundled 8x8 digits: the timeline tests' training runs (tests/timeline/make_runs.py)",
    "py:pytest": "the Python module's tests (tests/python, label python)",
}

# Programs every Debian system has (essential/required packages) or that are shell builtins-like;
# discovery ignores them.
BASE = {"bash", "sh", "env", "cat", "cp", "mv", "rm", "mkdir", "ls", "grep", "sed", "awk", "sort", "cut",
        "tr", "head", "tail", "wc", "find", "xargs", "date", "sleep", "timeout", "mktemp", "tar", "gzip",
        "id", "nproc", "dirname", "basename", "realpath", "readlink", "stat", "printf", "echo", "test",
        "cmp", "diff", "touch", "true", "false", "kill", "ps", "flock", "sudo", "apt-get", "dpkg", "uniq", "tee"}
# Tools of the GPU machine (the CUDA toolkit and driver); scripts/gpu-check.sh runs only there.
GPU_ONLY = {"nvidia-smi", "compute-sanitizer", "nvcc", "nsys", "ncu"}
# The project's own Python module: built into build/python by CMake, not a package to install.
PY_OWN = {"netlens"}
PY_STDLIB_SKIP = set(sys.stdlib_module_names) | {"__future__"}


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def walk(repo, dirs, exts):
    for d in dirs:
        for root, _, files in os.walk(os.path.join(repo, d)):
            for f in files:
                if f.endswith(exts) or (not exts and "." not in f):
                    yield os.path.join(root, f)


def discover(repo):
    found = {}  # name -> first place

    def add(name, where):
        if name and name not in BASE and name not in GPU_ONLY:
            found.setdefault(name, where)

    cmake_files = [os.path.join(repo, "CMakeLists.txt")] + list(walk(repo, ["tests", "src", "bench"], ("CMakeLists.txt", ".cmake")))
    for p in cmake_files:
        for m in re.finditer(r"find_program\(\s*\w+\s+(?:NAMES\s+)?([A-Za-z0-9_+.-]+)", read(p)):
            add(m.group(1), p)
    for p in walk(repo, ["tests", "src", "scripts", "bench"], (".cpp", ".hpp", ".sh", ".py", ".txt", ".js")):
        if os.path.abspath(p) == os.path.abspath(__file__):
            continue
        text = read(p)
        if p.endswith((".cpp", ".hpp", ".sh")):  # Python run inline: python3 -c 'import torch'
            for m in re.finditer(r"python3 -c [\"']+import ([A-Za-z_][A-Za-z0-9_]*)", text):
                if m.group(1) not in PY_STDLIB_SKIP:  # python3 itself brings the standard library
                    add("py:" + m.group(1), p)
        for m in re.finditer(r"/usr/bin/([A-Za-z0-9_+.-]+)", text):
            add(m.group(1), p)
        for m in re.finditer(r"/usr/lib/python3/dist-packages/([A-Za-z_]\w*)/", text):  # data files of a package
            add("py:" + m.group(1), p)
        if p.endswith(".sh"):
            for m in re.finditer(r"command -v ([A-Za-z0-9_+.-]+)", text):
                add(m.group(1), p)
            for m in re.finditer(r"^\s*need ([A-Za-z0-9_+.-]+)", text, re.M):
                add(m.group(1), p)
        if p.endswith(".py"):
            for m in re.finditer(r"^\s*(?:import\s+([A-Za-z_]\w*)|from\s+([A-Za-z_]\w*)[\w.]*\s+import\b)", text, re.M):
                mod = m.group(1) or m.group(2)
                if mod not in PY_STDLIB_SKIP and mod not in PY_OWN and not os.path.exists(os.path.join(os.path.dirname(p), mod + ".py")):
                    add("py:" + mod, p)
    return found


def setup_packages(repo):
    text = read(os.path.join(repo, "scripts", "setup.sh"))
    body = re.search(r"pkgs=\((.*?)\n\)", text, re.S)
    if not body:
        return set(), {}, text
    pkgs = set()
    for line in body.group(1).splitlines():
        line = line.split("#", 1)[0]
        pkgs.update(w for w in line.split() if re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", w))
    conditional = {}  # program -> packages installed when it is missing
    for m in re.finditer(r"command -v (\S+) [^\n]*\|\|\s*pkgs\+=\(([^)]*)\)", text):
        conditional[m.group(1)] = set(m.group(2).split())
    return pkgs, conditional, text


def closure(pkgs):
    out = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                          "--no-breaks", "--no-replaces", "--no-enhances"] + sorted(pkgs),
                         capture_output=True, text=True)
    names = set(pkgs)
    for line in out.stdout.splitlines():
        line = line.strip()
        m = re.match(r"(?:\|?(?:Pre)?Depends:\s*)?<?([a-z0-9][a-z0-9+.-]+)(?::\w+)?>?$", line)
        if m:
            names.add(m.group(1))
    return names


def essential():
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Essential} ${Priority}\\n"],
                         capture_output=True, text=True)
    return {l.split()[0] for l in out.stdout.splitlines() if " yes " in l + " " or l.endswith(" required")}


def owner(path):
    real = os.path.realpath(path)
    for p in (path, real):
        out = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.split(":", 1)[0].split(",")[0].strip()
    return None


def locate(item):
    if item.startswith("py:"):
        mod = item[3:]
        r = subprocess.run(["/usr/bin/python3", "-c", f"import {mod}, sys; sys.stdout.write({mod}.__file__)"],
                           capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None
    for d in ("/usr/bin", "/bin", "/usr/sbin", "/usr/local/bin"):
        p = os.path.join(d, item)
        if os.path.exists(p):
            return p
    return None


def main():
    repo = sys.argv[1]
    problems = []
    found = discover(repo)
    for name, where in sorted(found.items()):
        if name not in DECLARED:
            problems.append(f"{os.path.relpath(where, repo)} calls '{name}', which check_setup.py does not declare "
                            "(declare it and make scripts/setup.sh install it)")
    for name in sorted(DECLARED):
        if name not in found and name not in ("cmake", "ninja", "git", "glslc", "sha256sum", "npm", "clang++"):
            problems.append(f"'{name}' is declared but nothing calls it any more: remove it from DECLARED")
    pkgs, conditional, _ = setup_packages(repo)
    if not pkgs:
        problems.append("scripts/setup.sh: no pkgs=(...) list found")
    deps = closure(pkgs) | essential()
    for name in sorted(DECLARED):
        path = locate(name)
        if path is None:
            problems.append(f"'{name}' is not installed on this machine (scripts/setup.sh must install it)")
            continue
        pkg = owner(path)
        fallback = next((c for c in conditional.values() if pkg is None or pkg in c), None)
        if pkg not in deps and fallback is not None:
            # brought by the machine image here; setup.sh installs it where it is missing
            print(f"ok  {name:16} {path}  ({pkg or 'machine image'}; setup.sh installs {' '.join(sorted(fallback))} where missing)")
            continue
        if pkg is None:
            problems.append(f"'{name}' ({path}) belongs to no Debian package and setup.sh does not install it")
        elif pkg not in deps:
            problems.append(f"'{name}' comes from the Debian package '{pkg}', which scripts/setup.sh does not install")
        else:
            print(f"ok  {name:16} {path}  ({pkg})")
    for p in problems:
        print("FAIL " + p)
    print(f"{len(DECLARED)} declared, {len(found)} discovered, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
