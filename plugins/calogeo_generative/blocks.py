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
        out = torch.bmm(patches.permute(2, 0, 1), self.weight)  # (L, N, C_out)
        out = out.permute(1, 2, 0)  # (N, C_out, L)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(x.shape[0], -1, *self.out_hw)


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
