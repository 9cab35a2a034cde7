"""run() returns every activation, bit for bit what `netlens infer --dump DIR --all` writes."""
import numpy as np
import pytest

import netlens
from conftest import read_dump, run_cli


def test_every_activation_equals_cli_dump(cli, mobilenet, photo_npy, tmp_path):
    x, npy = photo_npy
    run_cli(cli, "infer", mobilenet, "--input", npy, "--backend", "cpu", "--dump", tmp_path / "d", "--all")
    ref = read_dump(tmp_path / "d")
    m = netlens.load(mobilenet, backend="cpu")
    acts = m.run({m.input_names[0]: x})
    assert set(acts) == set(ref), f"tensor sets differ: {sorted(set(acts) ^ set(ref))[:5]}"
    assert len(acts) > 150  # every tensor of mobilenet_v2, not just its output
    for name, r in ref.items():
        a = acts[name]
        assert a.dtype == r.dtype and a.shape == r.shape, name
        assert a.tobytes() == r.tobytes(), f"{name}: differs from the CLI's dump"


def test_every_activation_equals_cli_dump_ppocr_rec(cli, models, tmp_path):
    """PaddlePaddle's text recogniser (Constant-node weights, a dynamic width) on a real photo
    resized to 320x48, normalised as PP-OCR does; then a second width re-plans the session."""
    from PIL import Image
    model = models / "ppocrv4_rec.onnx"
    assert model.exists(), f"{model} missing: run scripts/fetch-models.sh"
    im = Image.open("/usr/lib/python3/dist-packages/skimage/data/chelsea.png").convert("RGB")
    m = netlens.load(str(model), backend="cpu")
    for width in (320, 160):
        x = np.asarray(im.resize((width, 48), Image.BILINEAR), dtype=np.float32) / 255.0
        x = np.ascontiguousarray(((x - 0.5) / 0.5).transpose(2, 0, 1)[None])
        npy = tmp_path / f"x{width}.npy"
        np.save(npy, x)
        run_cli(cli, "infer", model, "--input", npy, "--backend", "cpu", "--dump", tmp_path / f"d{width}", "--all")
        ref = read_dump(tmp_path / f"d{width}")
        acts = m.run({m.input_names[0]: x})
        assert set(acts) == set(ref)
        for name, r in ref.items():
            assert acts[name].tobytes() == r.tobytes() and acts[name].shape == r.shape, f"{name} (width {width})"


def test_arrays_are_copies_that_survive_the_next_run(mobilenet, photo_npy):
    x, _ = photo_npy
    m = netlens.load(mobilenet, backend="cpu")
    first = m.run(x)
    out = m.output_names[0]
    kept = first[out].copy()
    second = m.run(np.flip(x, axis=3).copy())
    assert not np.array_equal(second[out], kept)   # a different input, a different output
    assert np.array_equal(first[out], kept)        # the first run's array did not change


def test_float64_input_is_converted_like_float32(mobilenet, photo_npy):
    x, _ = photo_npy
    m = netlens.load(mobilenet, backend="cpu")
    a = m.run(x)[m.output_names[0]].copy()
    b = m.run(x.astype(np.float64))[m.output_names[0]]
    assert a.tobytes() == b.tobytes()


def test_load_from_bytes_equals_load_from_path(mobilenet, photo_npy):
    x, _ = photo_npy
    with open(mobilenet, "rb") as f:
        data = f.read()
    a = netlens.load(mobilenet, backend="cpu").run(x)
    b = netlens.load(data, backend="cpu").run(x)
    assert set(a) == set(b)
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k


def test_views_share_the_store_and_block_overwriting(mobilenet, photo_npy):
    import gc
    x, _ = photo_npy
    m = netlens.load(mobilenet, backend="cpu")
    copies = m.run(x)
    views = m.run(x, copy=False)
    assert set(views) == set(copies)
    for k, v in views.items():
        assert not v.flags.writeable and v.tobytes() == copies[k].tobytes(), k
    out_name = m.output_names[0]
    out = views[out_name]
    with pytest.raises(netlens.Error, match="still view"):
        m.run(x)
    with pytest.raises(netlens.Error, match="still view"):
        m.gradients()
    del views
    gc.collect()
    with pytest.raises(netlens.Error, match="1 array"):  # `out` still views the store
        m.run(x)
    del m
    gc.collect()
    # The view keeps the model (and its arena) alive after the last reference to the model goes.
    assert out.tobytes() == copies[out_name].tobytes()
    del out
    m = netlens.load(mobilenet, backend="cpu")
    v = m.run(x, copy=False)
    del v
    m.run(x)  # no views left: runs again
    gv = m.gradients(copy=False)
    gc_copy = {k: a.copy() for k, a in gv.items()}
    assert all(not a.flags.writeable for a in gv.values())
    with pytest.raises(netlens.Error, match="still view"):
        m.gradients()
    del gv
    g = m.gradients()
    assert all(g[k].tobytes() == gc_copy[k].tobytes() for k in g)
