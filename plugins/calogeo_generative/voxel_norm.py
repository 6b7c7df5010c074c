"""Layer normalisation over the voxels followed by a leaky ReLU, for generation: what the
BIB-AE's decoder and post-processor do after every convolution, one event at a time.

The networks normalise each (event, channel) map over its voxels, give every voxel its own
affine weight and bias (``nn.LayerNorm(grid)``) and apply a leaky ReLU. In generation the
activations are voxel-major, (V, C) per event (channels-last 3D convolutions; the
post-processor's 1x1x1 convolutions as (V, C) x (C, C) products), so the statistics are per
column. On the CPU Numba kernels read each event twice (the statistics, then the normalised,
activated values) where torch makes four passes (statistics, normalisation, affine, activation);
bfloat16 activations are read and written as their 16-bit patterns (a float32 whose low 16 bits
are zero; rounded to nearest even on the way out). Elsewhere (CUDA, other dtypes) the same
numbers come from torch operations.

Two more kernels serve the post-processor, whose first convolution has one input channel: its
output after normalisation and leaky ReLU is leaky(a_c u_v + b_v) (a per channel, u and b per
voxel), so which channels are on the negative slope depends only on where -b_v / u_v falls
among the sorted a_c. The next convolution's output is then u_v A_k + b_v B_k for one of
2 (C + 1) precomputed column pairs (k: that position), 2 C multiply-adds per voxel instead of
C^2 (:func:`first_layer_products`). The last convolution has one output channel, so it is a
dot product taken while the last normalisation's values are at hand
(:func:`voxel_norm_leaky_dot`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from calogeo._jit import njit

__all__ = ["VoxelNormLeaky", "first_layer_products", "voxel_norm_leaky", "voxel_norm_leaky_dot"]

_BITS = {torch.float32: (torch.int32, np.uint32, 0), torch.bfloat16: (torch.int16, np.uint16, 16)}
"""dtype -> (torch view dtype, numpy bit-pattern dtype, left shift to a float32 pattern)."""
_FASTMATH = {"nsz", "contract", "arcp"}


def _numba_path(t: torch.Tensor) -> bool:
    return t.device.type == "cpu" and t.dtype in _BITS


def _bits(t: torch.Tensor) -> np.ndarray:
    """The bit patterns of a contiguous float32 or bfloat16 CPU tensor, sharing its memory."""
    view, bits, _ = _BITS[t.dtype]
    return t.view(view).numpy().view(bits)


def _float_array(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().contiguous().numpy()


def _torch_norm_leaky(
    y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float, slope: float
) -> torch.Tensor:
    y32 = y.float()
    var, mean = torch.var_mean(y32, dim=-2, correction=0, keepdim=True)
    z = (y32 - mean) * torch.rsqrt(var + eps) * weight[:, None] + bias[:, None]
    return F.leaky_relu(z, slope)


def _norm_arguments(
    y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float, slope: float
) -> tuple[object, ...]:
    """The normalisation kernels' common leading arguments for contiguous ``y``."""
    return (
        _bits(y),
        _BITS[y.dtype][2],
        _float_array(weight),
        _float_array(bias),
        float(eps),
        np.float32(slope),
    )


def voxel_norm_leaky(
    y: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    eps: float,
    slope: float,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """leaky_relu((y - mean) / sqrt(var + eps) * weight + bias, ``slope``) of voxel-major
    activations ``y`` (N, V, C), mean and biased variance over the V voxels of each event and
    channel, ``weight`` and ``bias`` (V,) per voxel, 0 <= ``slope`` <= 1: (N, V, C) of ``y``'s
    dtype (in ``out`` if given: contiguous, not ``y``), the same numbers as ``nn.LayerNorm``
    over the voxels and ``F.leaky_relu`` up to rounding."""
    if not _numba_path(y):
        result = _torch_norm_leaky(y, weight, bias, eps, slope).to(y.dtype)
        return result if out is None else out.copy_(result)
    y = y.contiguous()
    out = torch.empty_like(y) if out is None else out
    _norm_leaky(*_norm_arguments(y, weight, bias, eps, slope), _bits(out))
    return out


def voxel_norm_leaky_dot(
    y: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    eps: float,
    slope: float,
    projection: torch.Tensor,
) -> torch.Tensor:
    """``voxel_norm_leaky(y, ...) @ projection`` for ``y`` (N, V, C) and ``projection`` (C,):
    (N, V) float32, without the normalised activations ever being stored."""
    if not _numba_path(y):
        return _torch_norm_leaky(y, weight, bias, eps, slope) @ projection.float()
    y = y.contiguous()
    out = torch.empty(y.shape[:2], dtype=torch.float32)
    _norm_leaky_dot(
        *_norm_arguments(y, weight, bias, eps, slope), _float_array(projection), out.numpy()
    )
    return out


def first_layer_products(
    u: torch.Tensor,
    b: torch.Tensor,
    a: torch.Tensor,
    matrix: torch.Tensor,
    slope: float,
    out: torch.Tensor,
) -> torch.Tensor:
    """leaky_relu(u[:, None] * a[None, :] + b[:, None], ``slope``) @ ``matrix``.T for one event:
    ``u``, ``b`` (V,) per voxel, ``a`` (C,) per channel, ``matrix`` (C_out, C), written to
    ``out`` (V, C_out, contiguous, its dtype). On the CPU from the sorted ``a`` and 2 (C + 1)
    column pairs (module docstring)."""
    if not _numba_path(out):
        h = F.leaky_relu(u[:, None] * a[None, :] + b[:, None], slope)
        return out.copy_(h @ matrix.float().t())
    a64, m64 = a.double(), matrix.double()
    order = torch.argsort(a64)
    sorted_a = a64[order]
    columns = m64[:, order].t()  # (C, C_out), in the order of a
    zero = torch.zeros(1, m64.shape[0], dtype=torch.float64)
    cum_a = torch.cat([zero, torch.cumsum(columns * sorted_a[:, None], 0)])  # (C + 1, C_out)
    cum_b = torch.cat([zero, torch.cumsum(columns, 0)])
    # k channels (the k smallest a) on the slope, the rest not: u > 0; the reverse: u < 0
    tables = torch.stack(
        [
            slope * cum_a + (cum_a[-1] - cum_a),
            slope * cum_b + (cum_b[-1] - cum_b),
            cum_a + slope * (cum_a[-1] - cum_a),
            cum_b + slope * (cum_b[-1] - cum_b),
        ]
    ).float()
    _first_layer(
        _float_array(u),
        _float_array(b),
        sorted_a.float().numpy(),
        tables.numpy(),
        _BITS[out.dtype][2],
        _bits(out),
    )
    return out


class VoxelNormLeaky(nn.Module):
    """A ``nn.LayerNorm`` over a (depth, rows, cols) grid and a leaky ReLU as one module for
    generation: (N, C, D, H, W) in any memory format -> the same numbers, channels-last
    (:func:`voxel_norm_leaky`)."""

    def __init__(self, norm: nn.LayerNorm, slope: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(norm.weight.detach().flatten().clone(), requires_grad=False)
        self.bias = nn.Parameter(norm.bias.detach().flatten().clone(), requires_grad=False)
        self.eps = float(norm.eps)
        self.slope = float(slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, *grid = x.shape
        y = x.permute(0, 2, 3, 4, 1).reshape(n, -1, c)
        out = voxel_norm_leaky(y, self.weight, self.bias, self.eps, self.slope)
        return out.view(n, *grid, c).permute(0, 4, 1, 2, 3)


# -- kernels -----------------------------------------------------------------------------------

_BLOCK = 16
"""Voxels summed in float32 before the float64 totals of the statistics."""


@njit(nogil=True, fastmath=_FASTMATH)
def _statistics(y, shift, eps):  # pragma: no cover - compiled
    """Per channel of one event's (V, C) bit patterns: float32 (1 / std, -mean / std). Sums
    of (x - the first voxel's x), so a mean far from zero costs no precision; 16 voxels
    summed in float32, then in float64."""
    n_voxels, n_channels = y.shape
    decoded = np.empty(n_channels, np.uint32)
    values = decoded.view(np.float32)
    for c in range(n_channels):
        decoded[c] = np.uint32(y[0, c]) << shift
    origin = values.copy()
    partial = np.zeros(n_channels, np.float32)
    partial_sq = np.zeros(n_channels, np.float32)
    total = np.zeros(n_channels, np.float64)
    squares = np.zeros(n_channels, np.float64)
    for v in range(n_voxels):
        for c in range(n_channels):
            decoded[c] = np.uint32(y[v, c]) << shift
        for c in range(n_channels):
            x = values[c] - origin[c]
            partial[c] += x
            partial_sq[c] += x * x
        if (v + 1) % _BLOCK == 0 or v == n_voxels - 1:
            for c in range(n_channels):
                total[c] += partial[c]
                squares[c] += partial_sq[c]
                partial[c] = 0.0
                partial_sq[c] = 0.0
    scale = np.empty(n_channels, np.float32)
    offset = np.empty(n_channels, np.float32)
    for c in range(n_channels):
        mean = total[c] / n_voxels
        rstd = 1.0 / np.sqrt(max(squares[c] / n_voxels - mean * mean, 0.0) + eps)
        scale[c] = rstd
        offset[c] = -(mean + origin[c]) * rstd
    return scale, offset


@njit(nogil=True, inline="always")
def _store(encoded, shift, out_row):  # pragma: no cover - compiled
    """float32 bit patterns ``encoded`` into ``out_row``: as they are (``shift`` 0) or as
    bfloat16 patterns rounded to nearest even (``shift`` 16)."""
    if shift:
        for c in range(len(out_row)):
            e = encoded[c]
            out_row[c] = (e + np.uint32(0x7FFF) + ((e >> 16) & np.uint32(1))) >> 16
    else:
        for c in range(len(out_row)):
            out_row[c] = encoded[c]


@njit(nogil=True, fastmath=_FASTMATH)
def _norm_leaky(y, shift, weight, bias, eps, slope, out):  # pragma: no cover - compiled
    n_events, n_voxels, n_channels = y.shape
    decoded = np.empty(n_channels, np.uint32)
    values = decoded.view(np.float32)
    result = np.empty(n_channels, np.float32)
    encoded = result.view(np.uint32)
    for n in range(n_events):
        y_n, out_n = y[n], out[n]
        scale, offset = _statistics(y_n, shift, eps)
        for v in range(n_voxels):
            w, b = weight[v], bias[v]
            for c in range(n_channels):
                decoded[c] = np.uint32(y_n[v, c]) << shift
            for c in range(n_channels):
                z = (values[c] * scale[c] + offset[c]) * w + b
                result[c] = max(z, slope * z)
            _store(encoded, shift, out_n[v])


@njit(nogil=True, fastmath={*_FASTMATH, "reassoc"})  # the dot product: any summation order
def _norm_leaky_dot(y, shift, weight, bias, eps, slope, projection, out):  # pragma: no cover
    n_events, n_voxels, n_channels = y.shape
    decoded = np.empty(n_channels, np.uint32)
    values = decoded.view(np.float32)
    for n in range(n_events):
        y_n = y[n]
        scale, offset = _statistics(y_n, shift, eps)
        for v in range(n_voxels):
            w, b = weight[v], bias[v]
            for c in range(n_channels):
                decoded[c] = np.uint32(y_n[v, c]) << shift
            acc = np.float32(0.0)
            for c in range(n_channels):
                z = (values[c] * scale[c] + offset[c]) * w + b
                acc += max(z, slope * z) * projection[c]
            out[n, v] = acc


@njit(nogil=True, fastmath=_FASTMATH)
def _first_layer(u, b, sorted_a, tables, shift, out):  # pragma: no cover - compiled
    n_channels, n_out = len(sorted_a), out.shape[1]
    result = np.empty(n_out, np.float32)
    encoded = result.view(np.uint32)
    for v in range(len(u)):
        if u[v] > 0:  # channels with a <= -b / u on the slope
            k, side = np.searchsorted(sorted_a, -b[v] / u[v], side="right"), 0
        elif u[v] < 0:  # channels with a < -b / u off the slope
            k, side = np.searchsorted(sorted_a, -b[v] / u[v], side="left"), 2
        else:  # every channel is b: all on the slope or none
            k, side = (0 if b[v] > 0 else n_channels), 0
        slope_a, slope_b, uv, bv = tables[side, k], tables[side + 1, k], u[v], b[v]
        for c in range(n_out):
            result[c] = uv * slope_a[c] + bv * slope_b[c]
        _store(encoded, shift, out[v])
