#!/usr/bin/python3
"""Recurrent test models and their independent references, for tests/cpu/test_rnn_ops.cpp.

    rnn_models.py OUTDIR

Writes into OUTDIR, per case NAME:
  NAME.onnx                 the model
  NAME.in<i>.npy            graph input i (seeded random; sequence_lens int32)
  NAME.ort<k>.npy           onnxruntime's graph output k (scripts/ort/run.js, no graph optimisation)
  NAME.torch<k>.npy         PyTorch's own output k (cases exported from torch.nn.LSTM/GRU/RNN)
  NAME.cell.npy, NAME.gates.npy   every step's LSTM cell state / gate activations (GRU: gates only),
                            computed here in float64 NumPy from the torch weights (1-layer cases), in
                            ONNX's layout [seq, dirs, batch, hidden] and gate order (LSTM i o f c,
                            GRU z r h~)
and manifest.json: [{name, inputs, outputs, torch, cell, gates}].

Two kinds of case: PyTorch modules exported with torch.onnx (2 layers, bidirectional, batch_first,
with and without initial states), and single ONNX nodes built with onnx.helper for what PyTorch
never exports (sequence_lens, layout=1, reverse, peepholes, clip, input_forget, GRU
linear_before_reset=0, non-default activations with alpha/beta), checked against onnxruntime only.
"""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

warnings.filterwarnings("ignore")  # torch.onnx's export chatter about batch sizes
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
manifest = []


def run_ort(name, model_path, inputs, n_out, to_layout1=False):
    """onnxruntime's outputs of model_path on inputs (files NAME.in<k>.npy, or NAME.refin<k>.npy when
    the reference model is the layout-0 twin of a layout-1 case: onnxruntime refuses layout = 1, so
    its outputs are transposed back into layout 1 here)."""
    ort_dir = os.path.join(OUT, name + ".ortdir")
    os.makedirs(ort_dir, exist_ok=True)
    args = ["node", os.path.join(REPO, "scripts/ort/run.js"), model_path, ort_dir]
    stem = "refin" if to_layout1 else "in"
    for k, (iname, _) in enumerate(inputs):
        args += ["--input", f"{iname}={os.path.join(OUT, f'{name}.{stem}{k}.npy')}"]
    subprocess.run(args, check=True)
    index = json.load(open(os.path.join(ort_dir, "index.json")))
    by_name = {e["name"]: e["file"] for e in index["outputs"]}
    model = onnx.load(model_path)
    outs = [o.name for o in model.graph.output]
    for k, o in enumerate(outs[:n_out]):
        arr = np.load(os.path.join(ort_dir, by_name[o]))
        if to_layout1:
            arr = arr.transpose(2, 0, 1, 3) if arr.ndim == 4 else arr.transpose(1, 0, 2)
        np.save(os.path.join(OUT, f"{name}.ort{k}.npy"), np.ascontiguousarray(arr))
    return outs


def save_inputs(name, inputs):
    for k, (_, arr) in enumerate(inputs):
        np.save(os.path.join(OUT, f"{name}.in{k}.npy"), arr)


def add_case(name, model_path, inputs, torch_outs=None, cell=None, gates=None, ref_model=None):
    save_inputs(name, inputs)
    n_out = len(onnx.load(model_path).graph.output)
    if ref_model:  # layout-1 case: onnxruntime runs the layout-0 twin on transposed inputs
        for k, (_, arr) in enumerate(inputs):
            t = arr if arr.ndim == 1 else arr.transpose(1, 0, 2)
            np.save(os.path.join(OUT, f"{name}.refin{k}.npy"), np.ascontiguousarray(t))
        outs = run_ort(name, ref_model, inputs, n_out, to_layout1=True)
    else:
        outs = run_ort(name, model_path, inputs, n_out)
    if torch_outs is not None:
        for k, t in enumerate(torch_outs):
            np.save(os.path.join(OUT, f"{name}.torch{k}.npy"), t)
    if cell is not None:
        np.save(os.path.join(OUT, f"{name}.cell.npy"), cell.astype(np.float32))
    if gates is not None:
        np.save(os.path.join(OUT, f"{name}.gates.npy"), gates.astype(np.float32))
    manifest.append({"name": name, "inputs": [i for i, _ in inputs], "outputs": outs,
                     "torch": torch_outs is not None, "cell": cell is not None, "gates": gates is not None})


# ---- PyTorch modules --------------------------------------------------------------------------
class Wrap(torch.nn.Module):
    def __init__(self, rnn, kind, states):
        super().__init__()
        self.rnn, self.kind, self.states = rnn, kind, states

    def forward(self, x, *st):
        if self.kind == "lstm":
            y, (h, c) = self.rnn(x, (st[0], st[1])) if self.states else self.rnn(x)
            return y, h, c
        y, h = self.rnn(x, st[0]) if self.states else self.rnn(x)
        return y, h


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def steps_reference(rnn, kind, x, states, batch_first):
    """Every step's cell state and gates of a 1-layer torch LSTM/GRU, float64 NumPy."""
    xs = x.astype(np.float64)
    if batch_first:
        xs = xs.transpose(1, 0, 2)
    T, B, _ = xs.shape
    H = rnn.hidden_size
    dirs = 2 if rnn.bidirectional else 1
    G = 4 if kind == "lstm" else 3
    cells = np.zeros((T, dirs, B, H))
    gates = np.zeros((T, dirs, B, G * H))
    for d in range(dirs):
        sfx = "_l0" + ("_reverse" if d else "")
        w_ih = getattr(rnn, "weight_ih" + sfx).detach().double().numpy()
        w_hh = getattr(rnn, "weight_hh" + sfx).detach().double().numpy()
        b_ih = getattr(rnn, "bias_ih" + sfx).detach().double().numpy()
        b_hh = getattr(rnn, "bias_hh" + sfx).detach().double().numpy()
        h = states[0][d].astype(np.float64) if states else np.zeros((B, H))
        c = states[1][d].astype(np.float64) if states and kind == "lstm" else np.zeros((B, H))
        order = range(T - 1, -1, -1) if d else range(T)
        for t in order:
            gi = xs[t] @ w_ih.T + b_ih
            gh = h @ w_hh.T + b_hh
            if kind == "lstm":  # torch gate order i f g o
                a = gi + gh
                i, f, g, o = (a[:, k * H:(k + 1) * H] for k in range(4))
                i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
                c = f * c + i * g
                h = o * np.tanh(c)
                cells[t, d] = c
                gates[t, d] = np.concatenate([i, o, f, g], axis=1)  # ONNX order i o f c
            else:  # torch gate order r z n
                r = sigmoid(gi[:, :H] + gh[:, :H])
                z = sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
                n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
                h = (1 - z) * n + z * h
                gates[t, d] = np.concatenate([z, r, n], axis=1)  # ONNX order z r h~
    return (cells if kind == "lstm" else None), gates


def torch_case(name, kind, layers, bidir, batch_first, states, nonlinearity="tanh", steps=False):
    torch.manual_seed(len(manifest) + 1)
    I, H, T, B = 5, 6, 7, 3
    ctor = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
    extra = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
    rnn = ctor(I, H, num_layers=layers, bidirectional=bidir, batch_first=batch_first, **extra)
    model = Wrap(rnn, kind, states).eval()
    dirs = 2 if bidir else 1
    x = torch.randn(B, T, I) if batch_first else torch.randn(T, B, I)
    args = [x]
    names = ["x"]
    if states:
        args.append(torch.randn(layers * dirs, B, H) * 0.5)
        names.append("h0")
        if kind == "lstm":
            args.append(torch.randn(layers * dirs, B, H) * 0.5)
            names.append("c0")
    out_names = ["y", "h_n", "c_n"] if kind == "lstm" else ["y", "h_n"]
    path = os.path.join(OUT, name + ".onnx")
    torch.onnx.export(model, tuple(args), path, input_names=names, output_names=out_names, opset_version=14)
    with torch.no_grad():
        touts = [t.numpy() for t in model(*args)]
    cell = gates = None
    if steps:
        st = [a.numpy() for a in args[1:]] if states else None
        cell, gates = steps_reference(rnn, kind, x.numpy(), st, batch_first)
    add_case(name, path, [(n, a.numpy()) for n, a in zip(names, args)], touts, cell, gates)


torch_case("torch_lstm_2layer_bidir_batchfirst_states", "lstm", 2, True, True, True)
torch_case("torch_lstm_2layer_nostates", "lstm", 2, False, False, False)
torch_case("torch_lstm_1layer_bidir_states_steps", "lstm", 1, True, False, True, steps=True)
torch_case("torch_gru_2layer_bidir_batchfirst_states", "gru", 2, True, True, True)
torch_case("torch_gru_1layer_bidir_steps", "gru", 1, True, False, False, steps=True)
torch_case("torch_rnn_2layer_bidir_states", "rnn", 2, True, False, True)
torch_case("torch_rnn_relu_batchfirst", "rnn", 1, False, True, False, nonlinearity="relu")


# ---- single ONNX nodes for what PyTorch does not export -------------------------------------------
def node_case(name, op, dirs, attrs, lens=None, layout=0, h0=False, c0=False, peep=False, bias=True, I=4, H=5, T=6, B=4):
    rng = np.random.default_rng(len(manifest) + 100)
    G = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    x = rng.standard_normal((B, T, I) if layout else (T, B, I)).astype(np.float32)
    inits = [numpy_helper.from_array((rng.standard_normal((dirs, G * H, I)) * 0.5).astype(np.float32), "W"),
             numpy_helper.from_array((rng.standard_normal((dirs, G * H, H)) * 0.5).astype(np.float32), "R")]
    node_inputs = ["X", "W", "R"]
    graph_inputs = [("X", x)]
    if bias:
        inits.append(numpy_helper.from_array((rng.standard_normal((dirs, 2 * G * H)) * 0.3).astype(np.float32), "B"))
        node_inputs.append("B")
    else:
        node_inputs.append("")
    state_shape = (B, dirs, H) if layout else (dirs, B, H)
    if lens is not None:
        node_inputs.append("L")
        graph_inputs.append(("L", np.array(lens, dtype=np.int32)))
    else:
        node_inputs.append("")
    if h0:
        node_inputs.append("H0")
        graph_inputs.append(("H0", (rng.standard_normal(state_shape) * 0.5).astype(np.float32)))
    elif op == "LSTM" and (c0 or peep):
        node_inputs.append("")
    if op == "LSTM":
        if c0:
            node_inputs.append("C0")
            graph_inputs.append(("C0", (rng.standard_normal(state_shape) * 0.5).astype(np.float32)))
        elif peep:
            node_inputs.append("")
        if peep:
            inits.append(numpy_helper.from_array((rng.standard_normal((dirs, 3 * H)) * 0.5).astype(np.float32), "P"))
            node_inputs.append("P")
    while node_inputs and node_inputs[-1] == "":
        node_inputs.pop()
    outs = ["Y", "Y_h", "Y_c"] if op == "LSTM" else ["Y", "Y_h"]

    def save_model(path, lay):
        n = helper.make_node(op, node_inputs, outs, name=name + "_node", hidden_size=H,
                             **(dict(attrs, layout=1) if lay else attrs))
        ginputs = []
        for iname, arr in graph_inputs:
            ttype = TensorProto.INT32 if arr.dtype == np.int32 else TensorProto.FLOAT
            shape = list(arr.shape) if lay == layout or arr.ndim == 1 else [arr.shape[1], arr.shape[0], arr.shape[2]]
            ginputs.append(helper.make_tensor_value_info(iname, ttype, shape))
        goutputs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs]
        g = helper.make_graph([n], name, ginputs, goutputs, initializer=inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
        m.ir_version = 8
        onnx.save(m, path)

    path = os.path.join(OUT, name + ".onnx")
    save_model(path, layout)
    ref = None
    if layout:
        ref = os.path.join(OUT, name + ".ref_layout0.onnx")
        save_model(ref, 0)
    add_case(name, path, graph_inputs, ref_model=ref)


node_case("lstm_bidir_seqlens_peepholes_states", "LSTM", 2, {"direction": "bidirectional"}, lens=[6, 3, 1, 5],
          h0=True, c0=True, peep=True)
node_case("lstm_reverse_layout1_clip_forget", "LSTM", 1,
          {"direction": "reverse", "clip": 0.7, "input_forget": 1}, lens=[2, 6, 4, 6], layout=1, h0=True, c0=True)
node_case("lstm_activations_nobias", "LSTM", 1,
          {"activations": ["HardSigmoid", "ScaledTanh", "Softsign"], "activation_alpha": [0.3, 0.8],
           "activation_beta": [0.4, 1.2]}, bias=False)
node_case("gru_bidir_seqlens_lbr0", "GRU", 2, {"direction": "bidirectional", "linear_before_reset": 0},
          lens=[3, 6, 6, 2], h0=True)
node_case("gru_layout1_lbr1_activations", "GRU", 2,
          {"direction": "bidirectional", "linear_before_reset": 1,
           "activations": ["Sigmoid", "LeakyRelu", "HardSigmoid", "Elu"],
           "activation_alpha": [0.05, 0.25, 0.9], "activation_beta": [0.45]}, layout=1, h0=True)
node_case("rnn_reverse_seqlens_relu", "RNN", 1, {"direction": "reverse", "activations": ["Relu"]},
          lens=[6, 1, 3, 4], h0=True)
node_case("rnn_bidir_layout1_clip", "RNN", 2, {"direction": "bidirectional", "clip": 0.5}, layout=1)
node_case("lstm_seqlens_zero", "LSTM", 1, {}, lens=[0, 6, 2, 0], h0=True, c0=True)
node_case("gru_bidir_seqlens_zero", "GRU", 2, {"direction": "bidirectional"}, lens=[6, 0, 2, 0], h0=True)
node_case("rnn_seqlens_zero", "RNN", 1, {}, lens=[0, 3, 6, 0], h0=True)

json.dump(manifest, open(os.path.join(OUT, "manifest.json"), "w"), indent=1)
print(f"rnn_models: {len(manifest)} cases in {OUT}")
