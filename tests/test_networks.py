"""Backbone shapes and memory order: what makes the 3D networks train fast on the CPU."""

from __future__ import annotations

import pytest
import torch
from calogeo_reconstruction.networks import BasicBlock3d, Inception3d

from calogeo import geometry_from_spec, get_model
from calogeo.testing import tungsten_grid_spec


def _outputs(model, module_type, n_events=2):
    """The outputs of every ``module_type`` module of ``model``'s network in one training-mode
    forward pass on random channels-last voxel inputs, in call order."""
    net = model.network.train()
    seen = []
    for module in net.modules():
        if isinstance(module, module_type):
            module.register_forward_hook(lambda _m, _i, out: seen.append(out))
    inputs = [
        torch.rand(n_events, *shape).to(memory_format=torch.channels_last_3d)
        for shape in model.input_view.shapes
    ]
    net(inputs, torch.zeros(n_events, model.input_view.n_globals))
    return seen


@pytest.mark.parametrize("name", ["cnn3d", "googlenet3d", "resnet10_3d"])
@pytest.mark.parametrize("size", ["small", "paper"])
def test_3d_feature_maps_stay_channels_last(name, size):
    """A one-channel input or a 1^3 kernel fits both memory orders; oneDNN must not fall back to
    the contiguous one there (it made GoogLeNet-3D's max pools 5x slower)."""
    geometry = geometry_from_spec(tungsten_grid_spec(n=9, layers=9))
    hparams = {"modules": 2, "width": 0.0625} if name == "googlenet3d" else {}
    if name == "resnet10_3d":
        hparams = {"widths": [4, 4, 4, 4]}
    model = get_model(name).build(geometry, size=size, **hparams)
    maps = [
        out
        for out in _outputs(model, torch.nn.Module)
        if isinstance(out, torch.Tensor) and out.dim() == 5 and out.shape[1] > 1
    ]
    assert maps
    contiguous = [
        tuple(m.shape)
        for m in maps
        if max(m.shape[2:]) > 1 and not m.is_contiguous(memory_format=torch.channels_last_3d)
    ]
    assert contiguous == []


@pytest.mark.parametrize(("size", "extent"), [("small", (5, 5, 5)), ("paper", (9, 9, 9))])
def test_googlenet_small_preset_halves_the_image_in_its_stem(size, extent):
    geometry = geometry_from_spec(tungsten_grid_spec(n=9, layers=9))
    model = get_model("googlenet3d").build(geometry, size=size, modules=1, width=0.03)
    (inception,) = _outputs(model, Inception3d)
    assert tuple(inception.shape[2:]) == extent


def test_resnet10_every_block_halves_every_long_axis():
    """Seed 004 Table 1: [31, 11, 21] -> block 1 [16, 6, 11] -> ... -> block 4 [2, 1, 2]."""
    geometry = geometry_from_spec(tungsten_grid_spec(n=16, layers=3))
    model = get_model("resnet10_3d").build(geometry, size="small", widths=[2, 2, 2, 2])
    extents = [tuple(out.shape[2:]) for out in _outputs(model, BasicBlock3d)]
    assert extents == [(2, 8, 8), (1, 4, 4), (1, 2, 2), (1, 1, 1)]
