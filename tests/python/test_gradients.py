"""gradients() equals `netlens infer --dump DIR --gradients` (DIR/gradients) bit for bit."""
import numpy as np

import netlens
from conftest import read_dump, run_cli


def test_gradients_equal_cli(cli, mobilenet, photo_npy, tmp_path):
    x, npy = photo_npy
    run_cli(cli, "infer", mobilenet, "--input", npy, "--backend", "cpu", "--dump", tmp_path / "d", "--gradients",
            "--target", "class:285")
    ref = read_dump(tmp_path / "d" / "gradients")
    m = netlens.load(mobilenet, backend="cpu")
    m.run(x)
    g = m.gradients(target="class:285")
    assert set(g) == set(ref)
    assert m.input_names[0] in g and len(g) > 100
    for name, r in ref.items():
        assert g[name].dtype == np.float32 and g[name].shape == r.shape, name
        assert g[name].tobytes() == r.tobytes(), f"{name}: differs from the CLI's gradient dump"
    assert np.abs(g[m.input_names[0]]).max() > 0  # the class does reach the input
    t = m.target("class:285")
    assert t["class"] == 285 and t["tensor"] in g


def test_default_target_is_the_top_class(mobilenet, photo_npy):
    x, _ = photo_npy
    m = netlens.load(mobilenet, backend="cpu")
    acts = m.run(x)
    out = m.output_names[0]
    t = m.target()
    assert t["class"] == int(np.argmax(acts[out]))
    g = m.gradients()
    # A one-hot seed on the logits: dS/dlogits is that one-hot.
    expect = np.zeros_like(acts[out])
    expect.reshape(-1)[t["class"]] = 1
    if t["tensor"] == out:
        assert np.array_equal(g[out], expect)
