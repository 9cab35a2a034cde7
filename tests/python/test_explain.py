"""explain(): the heat map `netlens explain` writes (heatmap.npy), bit for bit, for a gradient
method, a CAM and integrated gradients, on mobilenet_v2 with a real photo."""
import json

import numpy as np
import pytest

import netlens
from conftest import run_cli


@pytest.mark.parametrize("method,flags", [("saliency", {}), ("gradcam", {}), ("ig", {"steps": 8})])
def test_heatmap_equals_cli(cli, mobilenet, photo_npy, tmp_path, method, flags):
    x, npy = photo_npy
    args = ["explain", mobilenet, "--input", npy, "--backend", "cpu", "--out", tmp_path, "--method", method,
            "--target", "class:285"]
    for k, v in flags.items():
        args += [f"--{k}", v]
    run_cli(cli, *args)
    ref = np.load(tmp_path / "heatmap.npy")
    summary = json.loads((tmp_path / "summary.json").read_text())
    m = netlens.load(mobilenet, backend="cpu")
    m.run(x)
    e = m.explain(method, target="class:285", **flags)
    assert e["heatmap"].dtype == np.float32 and e["heatmap"].shape == ref.shape == (224, 224)
    assert e["heatmap"].tobytes() == ref.tobytes()
    assert e["target"]["value"] == summary["target"]["value"]
    assert e["runs"] == summary["runs"]
    if method == "gradcam":
        assert e["layer"] == summary["layer"]["tensor"]
        assert e["attribution"] is None
    else:
        assert e["attribution"].shape == x.shape
    if method == "ig":
        assert e["completeness"]["relative_error"] == summary["completeness"]["relative_error"]


def test_bad_method_and_layer_are_errors(mobilenet, photo_npy):
    x, _ = photo_npy
    m = netlens.load(mobilenet, backend="cpu")
    m.run(x)
    with pytest.raises(netlens.Error, match="bogus"):
        m.explain("bogus")
    with pytest.raises(netlens.Error, match="layer is for"):
        m.explain("saliency", layer="x")
