"""Bad input never crashes the interpreter: the ONNX loader's fuzz corpus (the regression finds in
tests/onnx/inputs and the seed models scripts/run-fuzz.sh starts from, plus deterministic
truncations and byte flips of those seeds) through netlens.load / run in this process. Each must
load and run, or raise netlens.Error; any other exception fails, a crash kills the test."""
import os
import re
from pathlib import Path

import numpy as np

import netlens
from conftest import env_path


def seed_names(source_dir: Path):
    text = (source_dir / "scripts" / "run-fuzz.sh").read_text()
    block = re.search(r"fuzz_onnx_loader\)\n.*?local seeds=\((.*?)\)", text, re.S)
    assert block, "scripts/run-fuzz.sh: the fuzz_onnx_loader seed list moved"
    return block.group(1).split()


def corpus():
    src = env_path("NETLENS_SOURCE_DIR")
    data = env_path("NETLENS_ONNX_TESTDATA")
    files = sorted((src / "tests" / "onnx" / "inputs").glob("*"))
    assert len(files) >= 10, "tests/onnx/inputs: the fuzz regressions are missing"
    # As run-fuzz.sh: the seeds this ONNX release has (test_pad is gone from newer ones).
    seeds = [data / "node" / n / "model.onnx" for n in seed_names(src)]
    seeds = [p for p in seeds if p.exists()]
    assert len(seeds) >= 20, f"only {len(seeds)} fuzz seeds found under {data}/node (libonnx-testdata)"
    items = [(f.name, f.read_bytes()) for f in files] + [(s.parent.name, s.read_bytes()) for s in seeds]
    rng = np.random.RandomState(17)
    for s in seeds:
        b = s.read_bytes()
        for cut in (1, 7, len(b) // 3, len(b) // 2, len(b) - 1):
            items.append((f"{s.parent.name}[:{cut}]", b[:cut]))
        for k in range(8):
            m = bytearray(b)
            for i in rng.randint(0, len(m), size=1 + k):
                m[i] = rng.randint(0, 256)
            items.append((f"{s.parent.name}~flip{k}", bytes(m)))
    items += [("empty", b""), ("zeros", bytes(64)), ("text", b"not an onnx model\n" * 10)]
    return items


def zero_inputs(m):
    inputs = {}
    for name, dtype, shape in m.input_specs:
        if dtype is None or shape is None or any(d is None for d in shape) or np.prod(shape, dtype=np.int64) > (1 << 20):
            return None
        inputs[name] = np.zeros(shape, dtype=dtype)
    return inputs


def test_fuzz_corpus_raises_only_netlens_errors():
    outcomes = {"loaded": 0, "ran": 0, "error": 0}
    for label, data in corpus():
        try:
            m = netlens.load(data, backend="cpu", max_memory=256 << 20)
            outcomes["loaded"] += 1
            inputs = zero_inputs(m)
            if inputs is not None:
                m.run(inputs)
                outcomes["ran"] += 1
        except netlens.Error as e:
            assert str(e) and "\n" not in str(e).strip(), f"{label}: not a one-line message: {e!r}"
            assert isinstance(e, RuntimeError)
            outcomes["error"] += 1
    print(outcomes)
    # The corpus exercises both sides: valid seeds load and run, broken bytes are refused.
    assert outcomes["ran"] >= 10 and outcomes["error"] >= 50, outcomes


def test_gradients_of_an_empty_output_are_an_error():
    """A fuzz find: a model whose output has no elements. Target resolution read past its end
    (the CLI's `infer --gradients` crashed on it); explain::resolve_target refuses it with one line."""
    import onnx
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "empty",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 0])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 0])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m = netlens.load(model.SerializeToString(), backend="cpu")
    acts = m.run({"x": np.zeros((3, 0), np.float32)})
    assert acts["y"].shape == (3, 0)
    for call in (m.gradients, m.target, lambda: m.inspect(gradients=True)):
        try:
            call()
        except netlens.Error as e:
            assert "'y' has no elements" in str(e)
        else:
            raise AssertionError("no error for an empty target")
