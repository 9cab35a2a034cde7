"""Errors carry the CLI's one-line messages; inspect() is the CLI's document; show() starts the
viewer without blocking."""
import json
import os
import subprocess

import numpy as np
import pytest

import netlens
from conftest import run_cli

# A 24-bit virtual screen, as the other window tests use (xvfb-run's default 8-bit screen can make
# the swapchain fail on lavapipe).
XVFB = ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24"]


def test_error_is_a_runtime_error_with_the_cli_message(cli, tmp_path):
    assert issubclass(netlens.Error, RuntimeError)
    missing = tmp_path / "missing.onnx"
    r = run_cli(cli, "info", missing, check=False)
    assert r.returncode != 0
    with pytest.raises(netlens.Error) as e:
        netlens.load(str(missing))
    assert e.value.kind == "io"
    assert str(e.value) in r.stderr  # the CLI prints "netlens info: error: <the same line>"
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    r = run_cli(cli, "info", bad, check=False)
    with pytest.raises(netlens.Error) as e:
        netlens.load(str(bad))
    assert str(e.value) in r.stderr and e.value.kind == "model"


def test_bad_inputs_are_errors(mobilenet, photo_npy):
    x, _ = photo_npy
    m = netlens.load(mobilenet, backend="cpu")
    with pytest.raises(netlens.Error, match="not run yet"):
        m.gradients()
    with pytest.raises(netlens.Error, match="no input named 'nope'"):
        m.run({"nope": x})
    with pytest.raises(netlens.Error, match="int64"):
        m.run({m.input_names[0]: x.astype(np.int64)})
    with pytest.raises(netlens.Error):
        m.run({m.input_names[0]: x[:, :2]})  # wrong channel count
    m.run(x)  # still usable after the errors
    with pytest.raises(netlens.Error, match="class"):
        m.gradients(target="class:5000")


def test_inspect_equals_cli_document(cli, mobilenet, photo_npy):
    x, npy = photo_npy
    m = netlens.load(mobilenet, backend="cpu")
    acts = m.run(x)
    tensor = m.nodes()[10]["outputs"][0]
    r = run_cli(cli, "inspect", mobilenet, "--input", npy, "--backend", "cpu", "--tensor", tensor, "--find", "Conv",
                "--gradients")
    ref = json.loads(r.stdout)
    doc = m.inspect(tensor=tensor, find="Conv", gradients=True)
    assert set(doc) == set(ref)
    for key in ("structure", "find", "tensor", "gradients", "backends"):
        assert doc[key] == ref[key], key
    assert doc["model"] == ref["model"]
    assert doc["input"]["tensors"] == ref["input"]["tensors"]
    assert doc["tensor"]["max"] == pytest.approx(float(acts[tensor].max()), rel=1e-6)
    with pytest.raises(netlens.Error, match="no tensor named 'nope'"):
        m.inspect(tensor="nope")


def test_show_starts_the_viewer_without_blocking(mobilenet, photo_npy):
    x, _ = photo_npy
    m = netlens.load(mobilenet, backend="cpu")
    m.run(x)
    # Under Xvfb, a viewer that draws 3 frames and exits (view --frames 3): show() returns the
    # process at once, and the viewer, reading the temporary input show() wrote, exits cleanly.
    assert subprocess.run(["which", "xvfb-run"], capture_output=True).returncode == 0, "xvfb-run missing (xvfb)"
    p = netlens.show(m, extra_args=["--frames", "3"], size=(320, 200), wrapper=XVFB)
    assert isinstance(p, subprocess.Popen)
    assert p.poll() is None or p.returncode == 0  # returned before the viewer was done (or it was quick)
    assert p.wait(timeout=300) == 0, open(p.log_path).read()


def test_show_torch_module_without_blocking():
    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.LazyLinear(5))
    x = torch.randn(1, 3, 16, 16)
    net(x)  # materialises the lazy layer
    with pytest.raises(netlens.Error, match="example input"):
        netlens.show(net)
    p = netlens.show(net, x, extra_args=["--frames", "2"], size=(320, 200), wrapper=XVFB)
    assert p.wait(timeout=300) == 0, open(p.log_path).read()


def test_model_from_bytesio_and_repr(mobilenet, photo_npy):
    import io
    x, _ = photo_npy
    with open(mobilenet, "rb") as f:
        m = netlens.load(io.BytesIO(f.read()), backend="cpu")
    assert m.path is None and "not run yet" in m._repr_html_()
    assert "not run" in repr(m)
    m.run(x)
    html = m._repr_html_()
    assert m.output_names[0] in html and "<table>" in html
