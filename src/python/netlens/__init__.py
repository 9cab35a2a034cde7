"""netlens from Python: every activation of an ONNX (or PyTorch) model as NumPy arrays, its
gradients, the `netlens inspect` document, headless renders of the network and the interactive
viewer. See docs/python.md.

    import netlens, numpy as np
    m = netlens.load("model.onnx")                  # or bytes
    acts = m.run({"input": x})                      # {tensor name: ndarray}, every tensor
    grads = m.gradients(target="class:207")         # {tensor name: dS/d tensor}
    img = m.render(size=(800, 600))                 # H x W x 3 uint8, as `netlens render`
    netlens.show(m)                                 # the viewer, in its own process

Errors are netlens.Error (a RuntimeError) with the CLI's one-line message.
"""
from __future__ import annotations

import io as _io

import numpy as _np

from ._netlens import Error
from ._netlens import Model as _CModel
from ._netlens import load as _load
from ._display import Render, show_files as _show_files

__all__ = ["Error", "Model", "Render", "load", "from_torch", "show"]


class Model:
    """A loaded model (netlens.load / netlens.from_torch). Methods run on the model's last run.

    Attributes after run(): `activations` (the dict run() returned; None after run(copy=False)),
    `inputs` (the arrays it ran on). Notebooks show a Model that has run as its rendered network (_repr_png_) with a summary
    (_repr_html_).
    """

    def __init__(self, c: _CModel, title: str | None = None):
        self._c = c
        self._title = title
        self.activations: dict | None = None
        self.inputs: dict | None = None
        self.torch_modules: dict = {}  # from_torch: module name -> [output tensor per call]

    # --- running -------------------------------------------------------------------------------
    @property
    def input_names(self):
        return self._c.input_names

    @property
    def output_names(self):
        return self._c.output_names

    @property
    def input_specs(self):
        """[(name, numpy dtype or None, shape with None for symbolic dims, or None)] of the inputs."""
        return self._c.input_specs

    @property
    def path(self):
        return self._c.path

    def nodes(self):
        """The graph's nodes in order: [{name, op, inputs, outputs}]."""
        return self._c.nodes()

    def run(self, inputs, copy: bool = True) -> dict:
        """Runs on {input name: array} (or one array for a one-input model) and returns
        {tensor name: ndarray} for EVERY tensor of the run: graph inputs, every node's outputs
        and folded constants, as `netlens infer --dump DIR --all` writes them.

        copy=True (default): the arrays are COPIES, what this run computed whatever runs later
        (the activation store is overwritten in place by the next run, and may be on a GPU).
        copy=False: read-only VIEWS into the store (no copy for host tensors), kept alive by a
        capsule that holds the model; while any view lives, run() and gradients() raise
        netlens.Error instead of overwriting it (delete the views first).
        The GIL is released while the model runs, so other Python threads keep going.
        """
        if not isinstance(inputs, dict):
            if len(self.input_names) != 1:
                raise Error(f"the model has {len(self.input_names)} inputs; pass {{name: array}}")
            inputs = {self.input_names[0]: inputs}
        inputs = {k: _to_numpy(v) for k, v in inputs.items()}
        # Views must not be kept here: they would block the next run.
        acts = self._c.run(inputs, copy)
        self.activations = acts if copy else None
        self.inputs = inputs
        return acts

    def gradients(self, target: str = "", score: str = "logit", labels=None, copy: bool = True) -> dict:
        """dS/d(tensor) for every float tensor of the last run (input included), float32 copies,
        where S is the target (explain's syntax: '' = the top class, 'class:N', 'class:LABEL',
        'output:NAME[:INDEX]', 'region:...', 'ctc', ...; score 'logit' or 'prob'; labels a file
        path or a list). Session::backward, as `netlens infer --dump DIR --gradients`. The GIL is
        released during the pass. copy=False: read-only views, as run(copy=False)."""
        return self._c.gradients(target, score, labels, copy)

    def target(self, target: str = "", score: str = "logit", labels=None) -> dict:
        """What a target means on the last run: {text, description, output, tensor, score, value, class}."""
        return self._c.target(target, score, labels)

    def explain(self, method: str = "saliency", target: str = "", **kw) -> dict:
        """`netlens explain` on the last run's inputs: {method, target, heatmap (H x W float32, the
        CLI's heatmap.npy), signed, attribution, runs, completeness (IG), layer + channels (CAMs)}.
        method: saliency | gradxinput | smoothgrad | ig | gradcam | gradcam++ | hirescam | occlusion;
        keywords: score, labels, layer, samples, sigma, seed, steps, rule, baseline, patch, stride."""
        return self._c.explain(method, target, **kw)

    def inspect(self, **flags) -> dict:
        """The JSON document `netlens inspect` prints, for the last run, as a dict. Keywords are
        its flags: tensor=, find=, neuron=, weights=, attention=, query=, labels=, gradients=,
        target=, score=, top=, brief=, all_terms=."""
        return self._c.inspect(**flags)

    # --- pictures ------------------------------------------------------------------------------
    def _render_args(self, kw, stack):
        cam = kw.get("camera")
        if isinstance(cam, dict):  # a camera as `render --save-camera` writes it, as a dict
            import json
            import tempfile
            f = stack.enter_context(tempfile.NamedTemporaryFile("w", suffix=".json"))
            json.dump(cam, f)
            f.flush()
            kw["camera"] = f.name
        elif cam is not None:
            import os
            kw["camera"] = os.fspath(cam)
        for k in ("camera", "view", "select", "target", "score", "labels", "title"):
            if k in kw and kw[k] is None:
                del kw[k]  # None: the flag is not given
        if "size" in kw:
            kw["size"] = tuple(int(v) for v in kw["size"])
        if kw.get("title") is None and self._title is not None:
            kw["title"] = self._title
        return kw

    def render_png(self, **kw) -> bytes:
        """PNG bytes of the network for the last run: exactly what `netlens render MODEL --out F`
        writes for the same flags: size=(w, h), camera= (a camera JSON file, or its content as a
        dict), view='overview' |
        'layer:NAME', select='TENSOR:INDEX', values='activation'|'gradient'|'attribution',
        target=, score=, labels=, title= (default: the model file's stem), collapse=, lod_mean=,
        gpu=. Headless (offscreen Vulkan; lavapipe works)."""
        import contextlib
        with contextlib.ExitStack() as stack:
            return self._c.render_png(**self._render_args(dict(kw), stack))

    def render(self, **kw) -> Render:
        """The network as an H x W x 3 uint8 array (a Render: an ndarray that notebooks display),
        the same pixels render_png() and `netlens render` produce. Arguments as render_png()."""
        return Render.from_png(self.render_png(**kw))

    def _repr_png_(self):
        if not self._c.has_run:
            return None
        try:
            return self.render_png(size=(960, 540))
        except Error:
            return None  # no Vulkan device: the HTML summary is still shown

    def _repr_html_(self):
        import html
        name = html.escape(self.path or self._title or "<bytes>")
        if not self._c.has_run:
            return f"<b>netlens.Model</b> {name}: {len(self.nodes())} nodes, not run yet"
        acts = self.activations or {}  # None after run(copy=False): no table
        if not acts:
            return f"<b>netlens.Model</b> {name}: {len(self.nodes())} nodes, run (views: run(copy=False))"
        rows = "".join(
            f"<tr><td>{html.escape(n)}</td><td>{html.escape(str(a.dtype))}</td><td>{'x'.join(map(str, a.shape))}</td>"
            f"<td>{float(a.min()) if a.size and a.dtype.kind in 'fiub' else ''}</td>"
            f"<td>{float(a.max()) if a.size and a.dtype.kind in 'fiub' else ''}</td></tr>"
            for n, a in acts.items() if n in self.output_names)
        return (f"<b>netlens.Model</b> {name}: {len(self.nodes())} nodes, {len(acts)} tensors kept"
                f"<table><tr><th>output</th><th>dtype</th><th>shape</th><th>min</th><th>max</th></tr>{rows}</table>")

    def __repr__(self):
        state = "run" if self._c.has_run else "not run"
        return f"<netlens.Model {self.path or self._title or '<bytes>'}: {len(self.nodes())} nodes, {state}>"


def _to_numpy(v):
    if hasattr(v, "detach") and hasattr(v, "cpu"):  # a torch.Tensor
        return v.detach().cpu().numpy()
    return _np.asarray(v)


def load(source, backend: str = "auto", max_memory: int = 0) -> Model:
    """Loads an ONNX model from a path or from bytes (backend 'auto' | 'cpu' | 'cuda';
    max_memory: byte budget, 0 = available memory). netlens.Error with the loader's one line on a
    bad file; bad bytes never crash the interpreter."""
    if isinstance(source, _io.BytesIO):
        source = source.getvalue()
    return Model(_load(source, backend, max_memory))


def from_torch(module, example_input, input_names=None, output_names=None, opset: int = 13, backend: str = "auto") -> Model:
    """Exports a torch.nn.Module with torch.onnx.export into memory (no file), loads it, runs it on
    example_input and returns the Model. Nodes keep PyTorch's module names (/layer1/layer1.0/conv1/Conv);
    model.torch_modules maps each module name to its output tensor(s), one per call. BatchNorm stays
    a layer of its own (not folded into the Conv) so every module's output exists. See _torch.py."""
    from ._torch import export_bytes, module_tensors
    data, names = export_bytes(module, example_input, input_names, output_names, opset)
    m = Model(_load(data, backend, 0), title=type(module).__name__)
    m.torch_modules = module_tensors(m.nodes(), module)
    m.run(dict(zip(names, _example_arrays(example_input))))
    return m


def _example_arrays(example_input):
    xs = example_input if isinstance(example_input, (tuple, list)) else (example_input,)
    return [_to_numpy(x) for x in xs]


def show(model, example_input=None, *, size=(1600, 900), extra_args=(), wrapper=()):
    """Opens the interactive viewer (`netlens view`) on the model and its last inputs WITHOUT
    blocking: a separate process is started on temporary copies of the model (.onnx) and inputs
    (.npy), so the notebook or script keeps running and a viewer crash cannot take Python down.
    `model`: a netlens Model that has run, a path to an ONNX file, or a torch.nn.Module (then
    example_input is required and from_torch exports it). extra_args: more `netlens view` flags
    (e.g. ["--view", "layer:NAME"]); wrapper: a command prefix (e.g. ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24"]).
    Returns the subprocess.Popen (its .log_path: the viewer's output)."""
    if hasattr(model, "forward") and hasattr(model, "parameters"):  # a torch module
        if example_input is None:
            raise Error("show(torch_module, example_input): the example input is needed to export the module")
        model = from_torch(model, example_input)
    elif not isinstance(model, Model):
        model = load(model)
    if example_input is not None and model.inputs is None:
        model.run(example_input)
    if model.inputs is None:
        raise Error("show(): the model has not run: call run() first or pass example_input")
    # A model loaded from a file is opened in place (its external data files stay found).
    source = model.path if model.path else model._c.model_bytes()
    return _show_files(source, model.inputs, size, list(extra_args), list(wrapper))
