"""render()/render_png() give exactly the PNG `netlens render` writes for the same flags."""
import io

import numpy as np
from PIL import Image

import netlens
from conftest import run_cli


def cli_png(cli, model, npy, out, *flags):
    run_cli(cli, "render", model, "--input", npy, "--backend", "cpu", "--out", out, *flags)
    return out.read_bytes()


def test_overview_pixels_equal_cli(cli, mobilenet, photo_npy, tmp_path):
    x, npy = photo_npy
    ref = cli_png(cli, mobilenet, npy, tmp_path / "cli.png", "--size", "400x240")
    m = netlens.load(mobilenet, backend="cpu")
    m.run(x)
    assert m.render_png(size=(400, 240)) == ref
    img = m.render(size=(400, 240))
    assert img.shape == (240, 400, 3) and img.dtype == np.uint8
    ref_px = np.asarray(Image.open(io.BytesIO(ref)).convert("RGB"))
    assert np.array_equal(np.asarray(img), ref_px)
    assert img.std() > 5  # a drawn network, not a blank frame
    assert img._repr_png_() == ref  # the notebook shows that PNG


def test_layer_view_gradients_and_selection_equal_cli(cli, mobilenet, photo_npy, tmp_path):
    x, npy = photo_npy
    m = netlens.load(mobilenet, backend="cpu")
    m.run(x)
    layer = [n for n in m.nodes() if n["op"] == "Conv"][6]["outputs"][0]
    flags = dict(size=(320, 200), view=f"layer:{layer}", values="gradient", select=f"{layer}:0")
    ref = cli_png(cli, mobilenet, npy, tmp_path / "g.png", "--size", "320x200", "--view", f"layer:{layer}",
                  "--values", "gradient", "--select", f"{layer}:0")
    assert m.render_png(**flags) == ref


def test_camera_file_and_dict_equal_cli(cli, mobilenet, photo_npy, tmp_path):
    import json
    x, npy = photo_npy
    layer = [n for n in netlens.load(mobilenet).nodes() if n["op"] == "Conv"][3]["outputs"][0]
    cam = tmp_path / "cam.json"
    cli_png(cli, mobilenet, npy, tmp_path / "a.png", "--size", "320x200", "--view", f"layer:{layer}", "--save-camera", cam)
    ref = cli_png(cli, mobilenet, npy, tmp_path / "b.png", "--size", "320x200", "--camera", cam)
    m = netlens.load(mobilenet, backend="cpu")
    m.run(x)
    assert m.render_png(size=(320, 200), camera=cam) == ref
    assert m.render_png(size=(320, 200), camera=json.loads(cam.read_text())) == ref


def test_model_repr_png_is_a_render(mobilenet, photo_npy):
    x, _ = photo_npy
    m = netlens.load(mobilenet, backend="cpu")
    assert m._repr_png_() is None  # nothing to draw before a run
    m.run(x)
    png = m._repr_png_()
    assert png == m.render_png(size=(960, 540))
    assert "<table>" in m._repr_html_()


def test_bad_render_arguments_are_errors(mobilenet, photo_npy):
    x, _ = photo_npy
    m = netlens.load(mobilenet, backend="cpu")
    m.run(x)
    for kw, msg in [(dict(size=(4, 4)), "out of range"), (dict(view="layer:nope"), "nope"),
                    (dict(values="bogus"), "bogus"), (dict(camera="/nonexistent.json", view=""), "nonexistent")]:
        try:
            m.render_png(**kw)
        except netlens.Error as e:
            assert msg in str(e), (kw, str(e))
        else:
            raise AssertionError(f"render_png({kw}) did not raise")
