"""Shared fixtures of the Python module's tests. Paths come from ctest's ENVIRONMENT
(tests/python/CMakeLists.txt); anything missing is a failure, never a skip."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest


def env_path(name: str) -> Path:
    v = os.environ.get(name)
    assert v, f"{name} is not set (run through ctest, or set it as tests/python/CMakeLists.txt does)"
    p = Path(v)
    assert p.exists(), f"{name}={v} does not exist"
    return p


@pytest.fixture(scope="session")
def cli() -> str:
    return str(env_path("NETLENS_CLI"))


@pytest.fixture(scope="session")
def models() -> Path:
    return env_path("NETLENS_CACHE_DIR") / "models"


@pytest.fixture(scope="session")
def mobilenet(models) -> str:
    p = models / "mobilenet_v2.onnx"
    assert p.exists(), f"{p} missing: run scripts/fetch-models.sh"
    return str(p)


def photo_input(size=224) -> np.ndarray:
    """A real photo (skimage's chelsea.png, 451x300) resized and ImageNet-normalised, NCHW float32."""
    from PIL import Image
    path = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"
    assert os.path.exists(path), f"{path} missing (python3-skimage)"
    im = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
    x = np.asarray(im, dtype=np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None].astype(np.float32))


@pytest.fixture(scope="session")
def photo_npy(tmp_path_factory) -> tuple:
    x = photo_input()
    p = tmp_path_factory.mktemp("input") / "chelsea.npy"
    np.save(p, x)
    return x, str(p)


def run_cli(cli, *args, check=True):
    r = subprocess.run([cli, *map(str, args)], capture_output=True, text=True, timeout=600)
    if check:
        assert r.returncode == 0, f"netlens {' '.join(map(str, args))} failed: {r.stderr.strip()}"
    return r


def read_dump(folder: Path) -> dict:
    """{tensor name: array} of a `netlens infer --dump` folder (its index.json names the files)."""
    index = json.loads((folder / "index.json").read_text())
    return {name: np.load(folder / e["file"]) for name, e in index.items()}
