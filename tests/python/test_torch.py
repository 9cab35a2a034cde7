"""from_torch: a torchvision net exported in memory keeps PyTorch's module names, and every
module's output equals what a PyTorch forward hook sees.

Tolerance: |netlens - torch| <= 1e-5 * max(1, max|torch|) per module output (absolute 1e-5 for
outputs within unit scale; the oneDNN and PyTorch convolutions sum in different orders). Measured
on resnet18 (seed 0, 1x3x64x64): max relative 2.7e-6, max absolute 1.5e-5 (layer3.0.conv2, values
up to 5.4), over 75 module calls."""
import numpy as np
import pytest
import torch
import torchvision

import netlens


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.randn(1, 3, 64, 64)
    return net, x


def hook_outputs(net, x):
    outs, handles = {}, []
    for name, mod in net.named_modules():
        if name:
            handles.append(mod.register_forward_hook(
                lambda mod, inp, out, name=name: outs.setdefault(name, []).append(out.detach().numpy().copy())))
    with torch.no_grad():
        y = net(x)
    for h in handles:
        h.remove()
    return outs, y.numpy()


def test_every_module_output_matches_forward_hooks(resnet):
    net, x = resnet
    m = netlens.from_torch(net, x, backend="cpu")
    outs, y = hook_outputs(net, x)  # after the export: its tracing calls the hooks too
    assert m.torch_modules["layer1.0.conv1"] == ["/layer1/layer1.0/conv1/Conv_output_0"]
    assert len(m.torch_modules["layer1.0.relu"]) == 2  # the block calls its relu twice: relu, relu_1
    compared, worst_rel = 0, 0.0
    for name, calls in outs.items():
        assert name in m.torch_modules, f"module {name} has no node in the export"
        assert len(m.torch_modules[name]) == len(calls), name
        for tensor, ref in zip(m.torch_modules[name], calls):
            got = m.activations[tensor]
            assert got.shape == ref.shape, name
            err = float(np.abs(got - ref).max()) / max(1.0, float(np.abs(ref).max()))
            worst_rel = max(worst_rel, err)
            assert err <= 1e-5, f"{name} ({tensor}): relative error {err:.3g}"
            compared += 1
    assert compared >= 70, compared
    out = m.activations[m.output_names[0]]
    assert np.abs(out - y).max() <= 1e-5 * max(1.0, float(np.abs(y).max()))
    # run() takes torch tensors too (detached to NumPy).
    assert m.run(x * 2)[m.output_names[0]].shape == y.shape
    with torch.no_grad():
        y2 = net(x * 2).numpy()
    assert np.abs(m.activations[m.output_names[0]] - y2).max() <= 1e-5 * max(1.0, float(np.abs(y2).max()))
    print(f"compared {compared} module outputs, worst relative error {worst_rel:.3g}")


def test_node_names_are_pytorch_scopes(resnet):
    net, x = resnet
    m = netlens.from_torch(net, x, backend="cpu")
    names = {n["name"] for n in m.nodes()}
    assert "/layer1/layer1.0/conv1/Conv" in names
    assert "/layer1/layer1.0/bn1/BatchNormalization" in names  # not folded into the Conv
    # The inspect document sees those names as node names.
    found = m.inspect(find="layer2.0/downsample")["find"]["nodes"]
    assert {n["name"] for n in found} >= {"/layer2/layer2.0/downsample/downsample.0/Conv"}


def test_module_mode_is_restored(resnet):
    net, x = resnet
    net.train()
    try:
        netlens.from_torch(net, x, backend="cpu")
        assert net.training
    finally:
        net.eval()


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.act = torch.nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(self.act(x)))  # act called twice per call of the block


class Shared(torch.nn.Module):
    """A block called twice (shared weights), whose own ReLU runs twice per call: 4 calls of
    block.act, 2 of block and block.conv, in the order forward hooks see them."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 4, 3)
        self.block = Block()

    def forward(self, x):
        return self.block(self.block(self.stem(x)) * 0.5)


def test_repeated_modules_map_call_by_call():
    torch.manual_seed(0)
    net = Shared().eval()
    x = torch.randn(1, 3, 12, 12)
    m = netlens.from_torch(net, x, backend="cpu")
    outs, _ = hook_outputs(net, x)
    assert {k: len(v) for k, v in outs.items()} == {"stem": 1, "block": 2, "block.conv": 2, "block.act": 4}
    for name, calls in outs.items():
        assert len(m.torch_modules[name]) == len(calls), (name, m.torch_modules[name])
        for tensor, ref in zip(m.torch_modules[name], calls):
            got = m.activations[tensor]
            assert np.abs(got - ref).max() <= 1e-5 * max(1.0, float(np.abs(ref).max())), (name, tensor)


@pytest.mark.parametrize("ctor", ["mobilenet_v2", "squeezenet1_0", "shufflenet_v2_x0_5"])
def test_other_torchvision_nets_match_hooks(ctor):
    """Inverted residuals, Fire modules with concatenation, channel shuffle with chunk: every
    module with nodes in the export maps call by call (Dropout exports to nothing in eval mode)."""
    torch.manual_seed(0)
    net = getattr(torchvision.models, ctor)().eval()
    x = torch.randn(1, 3, 96, 96)
    m = netlens.from_torch(net, x, backend="cpu")
    outs, _ = hook_outputs(net, x)
    modules = dict(net.named_modules())
    compared = 0
    for name, calls in outs.items():
        if isinstance(modules[name], torch.nn.Dropout):
            assert name not in m.torch_modules
            continue
        assert len(m.torch_modules.get(name, [])) == len(calls), name
        for tensor, ref in zip(m.torch_modules[name], calls):
            got = m.activations[tensor]
            assert got.shape == ref.shape, name
            assert np.abs(got - ref).max() <= 1e-5 * max(1.0, float(np.abs(ref).max())), (name, tensor)
            compared += 1
    assert compared >= 60, compared
