"""Torch pieces the three generative model families share: locally connected layers, the
CaloGAN discriminator features (minibatch discrimination, differentiable sparsity), image
resizing, per-axis shape bookkeeping and the loss terms (binary cross entropy, MAPE, MAE) as
pure functions of tensors (the WGAN-GP penalty is :func:`calogeo.adversarial.gradient_penalty`).

Units are those of :mod:`calogeo.generative`: images are cell energies over the model's
``image_unit_gev``, and every network takes ``conditions`` (N, n_conditions) float32 whose
column 0 is the incident energy over ``energy_unit_gev`` (the largest training energy, so the
CaloGAN paper's E / 100 GeV for its 1-100 GeV data); further columns are angles in rad and a
one-hot particle class. Imported only when a network is built.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

Shape = tuple[int, ...]


def incident_energy(conditions: torch.Tensor) -> torch.Tensor:
    """(N, 1) incident energy in condition units: column 0 of ``conditions``."""
    return conditions[:, :1]


# -- locally connected layers --------------------------------------------------------------------


class LocallyConnected2d(nn.Module):
    """A 2D convolution whose weights are not shared: every output pixel has its own kernel
    (the LAGAN layer, de Oliveira et al., Comput. Softw. Big Sci. 1 (2017) 4). Valid padding;
    ``stride`` per axis. Weight (L, C_in k_r k_c, C_out) for the L output pixels."""

    def __init__(
        self,
        in_shape: Shape,
        out_channels: int,
        kernel: tuple[int, int],
        stride: tuple[int, int] = (1, 1),
        bias: bool = True,
    ) -> None:
        super().__init__()
        channels, rows, cols = in_shape
        self.kernel = kernel
        self.stride = stride
        self.out_hw = (
            (rows - kernel[0]) // stride[0] + 1,
            (cols - kernel[1]) // stride[1] + 1,
        )
        n_out = self.out_hw[0] * self.out_hw[1]
        fan_in = channels * kernel[0] * kernel[1]
        bound = 1.0 / math.sqrt(fan_in)
        self.weight = nn.Parameter(torch.empty(n_out, fan_in, out_channels).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(out_channels, n_out)) if bias else None

    @property
    def out_shape(self) -> Shape:
        return (self.weight.shape[2], *self.out_hw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = F.unfold(x, self.kernel, stride=self.stride)  # (N, fan_in, L)
        out = torch.bmm(patches.permute(2, 0, 1).contiguous(), self.weight)  # (L, N, C_out)
        out = out.permute(1, 2, 0)  # (N, C_out, L)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(x.shape[0], -1, *self.out_hw)

    def batch_last(self) -> BatchLastLocallyConnected2d:
        """This layer for generation on batch-last tensors (:class:`BatchLastLocallyConnected2d`)."""
        return BatchLastLocallyConnected2d(self)


class BatchLastLocallyConnected2d(nn.Module):
    """A :class:`LocallyConnected2d` on batch-last tensors (rows, cols, channels, N), for
    generation: every output pixel's patch is a strided view of the input, gathered by one copy
    whose rows are whole batches, and one batched product (L, C_out, k_r k_c C_in) @ (L, k_r k_c
    C_in, N) writes the output batch-last, so layers chain without unfold or transposing copies.
    The same numbers up to rounding (the patch sums run in another order)."""

    def __init__(self, lc: LocallyConnected2d) -> None:
        super().__init__()
        self.kernel, self.stride, self.out_hw = lc.kernel, lc.stride, lc.out_hw
        n_out, fan_in, c_out = lc.weight.shape
        c_in = fan_in // (self.kernel[0] * self.kernel[1])
        weight = lc.weight.detach().view(n_out, c_in, *self.kernel, c_out)
        weight = weight.permute(0, 4, 2, 3, 1).reshape(n_out, c_out, fan_in)  # taps row-major
        self.weight = nn.Parameter(weight.contiguous(), requires_grad=False)
        bias = None if lc.bias is None else lc.bias.detach().t().reshape(n_out, c_out, 1)
        self.bias = None if bias is None else nn.Parameter(bias.contiguous(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, cols, C_in, N) -> (rows', cols', C_out, N)."""
        x = x.contiguous()
        _, cols, c_in, n = x.shape
        (kr, kc), (sr, sc), (ho, wo) = self.kernel, self.stride, self.out_hw
        row, col = cols * c_in * n, c_in * n
        patches = x.as_strided((ho, wo, kr, kc, c_in, n), (sr * row, sc * col, row, col, n, 1))
        patches = patches.reshape(ho * wo, kr * kc * c_in, n)
        if self.bias is None:
            out = torch.bmm(self.weight, patches)
        else:
            out = torch.baddbmm(self.bias, self.weight, patches)
        return out.view(ho, wo, -1, n)


# -- inference: up-sampling folded into phase convolutions --------------------------


class PhaseConv3d(nn.Module):
    """One 3D convolution with an output channel per (phase, channel) on the low-resolution
    input, interleaved into ``factors`` x finer output and cropped to ``sizes``: what a nearest
    up-sampling followed by a convolution computes, with every tap that lands on the same input
    cell summed first (the 3DGAN's up-sampling + convolution pairs: 4-5x fewer
    multiplications). The bias goes into the convolution (once per phase) and the interleaving
    is one copy into a channels-last output, cropped on the way, so a channels-last
    convolution reads it without conversion."""

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        factors: Sequence[int],
        pads: Sequence[tuple[int, int]],
        sizes: Sequence[int],
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        phases = math.prod(factors)
        self.bias = None if bias is None else nn.Parameter(bias.repeat(phases), requires_grad=False)
        self.factors = tuple(factors)
        self.pad = [p for pair in reversed(pads) for p in pair]
        self.sizes = tuple(sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, low-resolution grid) -> (N, C_out, ``sizes``), channels-last in memory."""
        y = F.conv3d(F.pad(x, self.pad) if any(self.pad) else x, self.weight, self.bias)
        n, channels, m1, m2, m3 = y.shape
        f1, f2, f3 = self.factors
        c_out = channels // (f1 * f2 * f3)
        y = y.permute(0, 2, 3, 4, 1).reshape(n, m1, m2, m3, f1, f2, f3, c_out)
        y = y.permute(0, 1, 4, 2, 5, 3, 6, 7)  # (N, m1, f1, m2, f2, m3, f3, C_out)
        out = y.new_empty(n, *self.sizes, c_out)
        pieces = [_phase_pieces(size, f) for size, f in zip(self.sizes, self.factors, strict=True)]
        for (d1, s1, p1), (d2, s2, p2), (d3, s3, p3) in itertools.product(*pieces):
            target = out[:, d1, d2, d3].unflatten(1, (-1, p1.stop))
            target = target.unflatten(3, (-1, p2.stop)).unflatten(5, (-1, p3.stop))
            target.copy_(y[:, s1, p1, s2, p2, s3, p3])
        return out.permute(0, 4, 1, 2, 3)


def _phase_pieces(size: int, factor: int) -> list[tuple[slice, slice, slice]]:
    """(output cells, low-resolution cells, phases) of one axis cropped to ``size``: the whole
    low-resolution cells, then the partial last one."""
    whole, rest = divmod(size, factor)
    pieces = [(slice(0, whole * factor), slice(0, whole), slice(0, factor))] if whole else []
    if rest:
        pieces.append((slice(whole * factor, size), slice(whole, whole + 1), slice(0, rest)))
    return pieces


def _phase_kernel(
    weight: torch.Tensor, maps: Sequence[torch.Tensor], factors: Sequence[int]
) -> torch.Tensor:
    """(phases x C_out, C_in, J1, J2, J3), phase-major, from a (C_out, C_in, k1, k2, k3) kernel
    and per-axis maps (phases, J, k) saying which tap lands on which low-resolution offset."""
    a, b, c = (m.to(weight.dtype) for m in maps)
    w = torch.einsum("ujx,vky,wlz,oixyz->uvwoijkl", a, b, c, weight)
    c_out, c_in = weight.shape[:2]
    return w.reshape(c_out * math.prod(factors), c_in, *w.shape[-3:]).contiguous()


def fuse_upsample_conv(
    conv: nn.Conv3d, factors: Sequence[int], pads: Sequence[tuple[int, int]], size: Sequence[int]
) -> PhaseConv3d:
    """The phase convolution equal to nearest up-sampling by ``factors`` of an input of spatial
    ``size``, zero padding ``pads`` (before, after; negative: crop) and the valid ``conv``."""
    maps, x_pads, sizes = [], [], []
    for f, (lo, hi), k, s in zip(factors, pads, conv.kernel_size, size, strict=True):
        d = [[(r + t - lo) // f for t in range(k)] for r in range(f)]
        d_min, d_max = min(min(row) for row in d), max(max(row) for row in d)
        width = d_max - d_min + 1
        m = torch.zeros(f, width, k)
        for r in range(f):
            for t in range(k):
                m[r, d[r][t] - d_min, t] = 1.0
        maps.append(m)
        out = f * s + lo + hi - k + 1
        steps = -(-out // f)
        x_pads.append((-d_min, steps - 1 + d_max - (s - 1)))
        sizes.append(out)
    weight = _phase_kernel(conv.weight.detach(), maps, factors)
    bias = None if conv.bias is None else conv.bias.detach().clone()
    return PhaseConv3d(weight, bias, factors, x_pads, sizes)


class UpsampleConv(nn.Module):
    """Nearest up-sampling by ``factors``, zero padding ``pads`` (before, after per axis;
    negative: crop), then the valid 3D ``conv``; :meth:`fused` is the same as one
    :class:`PhaseConv3d` for generation."""

    def __init__(
        self, factors: Sequence[int], pads: Sequence[tuple[int, int]], conv: nn.Conv3d
    ) -> None:
        super().__init__()
        self.factors = tuple(factors)
        self.pads = [tuple(p) for p in pads]
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(f != 1 for f in self.factors):
            x = F.interpolate(x, scale_factor=self.factors, mode="nearest")
        flat = [p for pair in reversed(self.pads) for p in pair]
        return self.conv(F.pad(x, flat) if any(flat) else x)

    def fused(self, size: Sequence[int]) -> PhaseConv3d:
        """The phase convolution for inputs of spatial ``size``."""
        return fuse_upsample_conv(self.conv, self.factors, self.pads, size)


class DepthTapConv3d(nn.Module):
    """A stride-1 3D convolution without bias, for generation, as one with an output channel
    per (depth tap, output channel) and kernel depth 1, whose depth taps are then summed with
    shifts (in float32): the same numbers up to rounding, for layers with few output channels
    (the WGAN's 5 -> 1 channel 7x5x5 output layer: oneDNN runs it at about 5 G
    multiply-adds/s on one core, the 5 -> 7 channel 1x5x5 one 2-4x faster)."""

    def __init__(self, conv: nn.Conv3d) -> None:
        super().__init__()
        if conv.bias is not None or any(s != 1 for s in conv.stride):
            msg = "DepthTapConv3d takes a stride-1 convolution without bias"
            raise ValueError(msg)
        c_out, c_in, taps, *hw = conv.weight.shape
        weight = conv.weight.detach().permute(2, 0, 1, 3, 4).reshape(taps * c_out, c_in, 1, *hw)
        self.weight = nn.Parameter(weight.contiguous(), requires_grad=False)
        self.taps = taps
        self.padding = tuple(conv.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, D, H, W) -> (N, C_out, D', H', W') float32 (``x``'s dtype or wider)."""
        depth_pad = (0, 0, 0, 0, self.padding[0], self.padding[0])  # in the conv: 3x slower
        y = F.conv3d(F.pad(x, depth_pad), self.weight, padding=(0, *self.padding[1:]))
        y = y.unflatten(1, (self.taps, -1))  # (N, taps, C_out, D + 2 pad, H', W')
        depth = y.shape[3] - self.taps + 1
        out = y[:, 0, :, :depth].float()
        for t in range(1, self.taps):
            out += y[:, t, :, t : t + depth]
        return out


# -- CaloGAN discriminator features ---------------------------------------------------------------


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al., NeurIPS 2016, Sect. 3.2): the features are
    projected to ``kernels`` x ``dims`` rows, and each event gets, per kernel, the summed
    exp(-L1 distance) to every event of the batch, through tanh as in the CaloGAN code. Output
    (N, kernels)."""

    def __init__(self, n_features: int, kernels: int = 10, dims: int = 10) -> None:
        super().__init__()
        self.kernels = kernels
        self.dims = dims
        self.project = nn.Linear(n_features, kernels * dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.project(x).view(-1, self.kernels, self.dims)
        l1 = (m[:, None] - m[None]).abs().sum(dim=3)  # (N, N, kernels)
        return torch.tanh(torch.exp(-l1).sum(dim=1))


def soft_sparsity(image: torch.Tensor, scale: float = 1e-3) -> torch.Tensor:
    """(N, C) sub-differentiable fraction of the cells of each channel (layer) of an image
    (N, C, rows, cols) that hold energy: the mean of tanh(E / ``scale``), E and ``scale`` in GeV
    (Paganini et al. Sect. IV A; a hard count has no gradient)."""
    return torch.tanh(image.clamp(min=0) / scale).flatten(2).mean(dim=2)


def layer_energies(images: Sequence[torch.Tensor]) -> torch.Tensor:
    """(N, total channels): summed energy of every channel (layer) of every image (GeV)."""
    return torch.cat([x.flatten(2).sum(dim=2) for x in images], dim=1)


# -- resizing and shapes ---------------------------------------------------------------------------


def resize_image(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Resize (N, C, rows, cols) to ``shape``: nearest up-sampling by whole factors along the
    axes that grow, then average pooling onto ``shape`` (CaloGAN: 3x96 -> 12x12 is up-sampling
    x4 along rows, then 1x8 average pooling; 12x12 -> 12x6 is 1x2 pooling). The mean is kept, so
    multiply by the cell-count ratio to keep the sum."""
    rows, cols = x.shape[2:]
    up = (max(1, math.ceil(shape[0] / rows)), max(1, math.ceil(shape[1] / cols)))
    if up != (1, 1):
        x = x.repeat_interleave(up[0], dim=2).repeat_interleave(up[1], dim=3)
    if tuple(x.shape[2:]) != tuple(shape):
        x = F.adaptive_avg_pool2d(x, shape)
    return x


def clip(kernel: Sequence[int], extent: Sequence[int]) -> tuple[int, ...]:
    """A kernel (or stride, window) no larger than the spatial ``extent``, at least 1."""
    return tuple(max(1, min(int(k), int(e))) for k, e in zip(kernel, extent, strict=True))


def n_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# -- losses ----------------------------------------------------------------------------------------


def bce(p: torch.Tensor, target: float | torch.Tensor) -> torch.Tensor:
    """Binary cross entropy of probabilities ``p`` (N, 1) against ``target`` (a label, or a
    tensor of labels: label switching passes flipped ones)."""
    if not isinstance(target, torch.Tensor):
        target = torch.full_like(p, float(target))
    return F.binary_cross_entropy(p.clamp(1e-7, 1 - 1e-7), target.to(p.dtype))


def bce_logits(logit: torch.Tensor, target: float | torch.Tensor) -> torch.Tensor:
    """Binary cross entropy on logits (numerically safe under autocast)."""
    if not isinstance(target, torch.Tensor):
        target = torch.full_like(logit, float(target))
    return F.binary_cross_entropy_with_logits(logit, target.to(logit.dtype))


def mape(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Mean absolute percentage error in percent, as Keras defines it (the 3DGAN was written in
    Keras): 100 mean(|target - pred| / max(|target|, ``eps``))."""
    return 100.0 * ((target - pred).abs() / target.abs().clamp(min=eps)).mean()


def mae(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error."""
    return (target - pred).abs().mean()
