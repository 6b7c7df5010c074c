"""Generation kernels of the BIB-AE (calogeo_generative.voxel_norm) against the torch layers
they stand for: layer normalisation over the voxels + leaky ReLU, its dot product with a last
one-channel convolution, and the post-processor's first two convolutions."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from calogeo_generative.voxel_norm import (
    VoxelNormLeaky,
    first_layer_products,
    voxel_norm_leaky,
    voxel_norm_leaky_dot,
)

GRID = (4, 5, 6)
VOXELS = 4 * 5 * 6


def _reference(y: torch.Tensor, weight, bias, eps: float, slope: float) -> torch.Tensor:
    """nn.LayerNorm over the voxels of (N, V, C) activations, then leaky ReLU, in float64."""
    normed = F.layer_norm(
        y.double().transpose(1, 2), (y.shape[1],), weight.double(), bias.double(), eps
    )
    return F.leaky_relu(normed, slope).transpose(1, 2)


def _inputs(channels: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.randn(3, VOXELS, channels, generator=gen) * 2.0 + 5.0  # mean far from 0
    return y, torch.randn(VOXELS, generator=gen), torch.randn(VOXELS, generator=gen)


@pytest.mark.parametrize("channels", [1, 8, 37])
@pytest.mark.parametrize("slope", [0.01, 0.2])
def test_norm_leaky_is_layer_norm_and_leaky_relu(channels, slope):
    y, weight, bias = _inputs(channels)
    expected = _reference(y, weight, bias, 1e-5, slope)
    out = voxel_norm_leaky(y, weight, bias, 1e-5, slope)
    assert out.dtype == torch.float32
    assert out.shape == y.shape
    torch.testing.assert_close(out.double(), expected, atol=2e-5, rtol=1e-5)
    low = voxel_norm_leaky(y.bfloat16(), weight, bias, 1e-5, slope)
    assert low.dtype == torch.bfloat16
    bf16_of_input = _reference(y.bfloat16().float(), weight, bias, 1e-5, slope)
    torch.testing.assert_close(low.double(), bf16_of_input, atol=0.02, rtol=0.01)
    fallback = voxel_norm_leaky(y.double(), weight, bias, 1e-5, slope)  # torch, in float32
    torch.testing.assert_close(fallback, expected, atol=2e-5, rtol=1e-5)


def test_norm_leaky_keeps_its_precision_for_a_mean_far_from_zero():
    y, weight, bias = _inputs(8, seed=4)
    far = y + 3000.0  # variance 4, mean 3000: E[x^2] - E[x]^2 alone would lose it in float32
    expected = _reference(far, weight, bias, 1e-5, 0.01)
    torch.testing.assert_close(
        voxel_norm_leaky(far, weight, bias, 1e-5, 0.01).double(), expected, atol=1e-3, rtol=1e-3
    )


def test_norm_leaky_writes_into_a_given_buffer_and_rounds_to_nearest_even():
    y, weight, bias = _inputs(4)
    out = torch.empty_like(y)
    assert voxel_norm_leaky(y, weight, bias, 1e-5, 0.01, out=out) is out
    low = torch.empty(y.shape, dtype=torch.bfloat16)
    voxel_norm_leaky(y.bfloat16(), weight, bias, 1e-5, 0.01, out=low)
    full = voxel_norm_leaky(y.bfloat16().float(), weight, bias, 1e-5, 0.01)  # same arithmetic
    assert torch.equal(low, full.bfloat16())  # torch's float32 -> bfloat16 rounds to nearest even


def test_norm_leaky_dot_is_the_dot_product_of_the_activations():
    y, weight, bias = _inputs(16, seed=1)
    projection = torch.randn(16)
    expected = _reference(y, weight, bias, 1e-5, 0.01) @ projection.double()
    out = voxel_norm_leaky_dot(y, weight, bias, 1e-5, 0.01, projection)
    assert out.shape == (3, VOXELS)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), expected, atol=1e-4, rtol=1e-5)
    fallback = voxel_norm_leaky_dot(y.double(), weight, bias, 1e-5, 0.01, projection)
    torch.testing.assert_close(fallback.double(), expected, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_first_layer_products_equal_the_two_convolutions(dtype):
    gen = torch.Generator().manual_seed(2)
    channels, out_channels = 12, 7
    u = torch.randn(VOXELS, generator=gen)
    b = torch.randn(VOXELS, generator=gen)
    u[:10] = 0.0  # voxels whose every channel is b
    b[5:15] = 0.0
    a = torch.randn(channels, generator=gen)
    a[3] = a[4]  # tied channels
    u[20], b[20] = 1.0, -float(a[3])  # a voxel exactly on the kink of two channels
    matrix = torch.randn(out_channels, channels, generator=gen)
    expected = F.leaky_relu(u.double()[:, None] * a.double() + b.double()[:, None], 0.01)
    expected = expected @ matrix.double().t()
    out = torch.empty(VOXELS, out_channels, dtype=dtype)
    assert first_layer_products(u, b, a, matrix, 0.01, out) is out
    tolerances = {
        torch.bfloat16: (0.05, 0.01),
        torch.float32: (1e-5, 1e-5),
        torch.float64: (1e-5, 1e-5),
    }
    atol, rtol = tolerances[dtype]
    torch.testing.assert_close(out.double(), expected, atol=atol, rtol=rtol)


@pytest.mark.parametrize("channels_last", [False, True])
def test_voxel_norm_leaky_module_equals_layer_norm_and_leaky_relu(channels_last):
    torch.manual_seed(3)
    norm = torch.nn.LayerNorm(GRID)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    layers = torch.nn.Sequential(norm, torch.nn.LeakyReLU(0.2))
    x = torch.randn(2, 5, *GRID) + 1.0
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    fused = VoxelNormLeaky(norm, 0.2)
    with torch.inference_mode():
        out = fused(x)
        torch.testing.assert_close(out, layers(x), atol=2e-5, rtol=1e-5)
    assert out.is_contiguous(memory_format=torch.channels_last_3d)
