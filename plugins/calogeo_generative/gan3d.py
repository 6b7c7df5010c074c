"""3DGAN: Belayneh et al., "Calorimetry with deep learning: particle simulation and
reconstruction for collider physics", Eur. Phys. J. C 80 (2020) 688, Sect. 4 (architecture
Sect. 4.1 and Fig. 6, loss Eq. 1 and training Sect. 4.2).

On the ``voxels`` view, one tower per layer group. Axes are (depth, rows, cols); the paper's
(x, y, z) kernels are turned into this order.

Generator: (the energy condition, the further conditions, e.g. theta in rad, and 254 N(0, 1)
latent numbers: 256 inputs for E and theta) -> dense layer -> a start grid of 8 channels -> 3D
convolution, 64 filters of 8x6x6 (paper 6x6x8), leaky ReLU, batch norm -> up-sampling -> 6
filters of 8x5x8 -> leaky ReLU, batch norm -> up-sampling -> 6 filters of 8x3x5 -> leaky ReLU ->
one 2x2x2 filter -> ReLU. The paper's up-sampling factors (2, 3, 3) then (3, 2, 2) take its
start grid to 51x51x25; here the start grid, the factors and the paddings are derived per axis
from the view's grid (:func:`upsampling_plan`): an axis short enough drops a factor, and the
zero padding before each convolution (negative: a crop) lands on the exact grid. For the
paper's 25x51x51 grid the start grid is 5x9x9 (the paper's code has 8x9x9 with wider padding).

Discriminator: four 3D convolutions, 16 filters of 6x5x6 ("same"), then three of 8 filters of
6x5x6 ("valid", the first two after one layer of zero padding in depth), leaky ReLU each, batch
norm and dropout 0.2 after the second to fourth (dropout after the first too, as in the paper's
code), 2x2x2 average pooling, flattened -> a real/fake head (sigmoid: a logit here), a primary
energy regression head and, where the model has further conditions, an angle regression head.
Kernels and pools are clipped to each axis, so a thin grid is never convolved to nothing.

Loss (Eq. 1): 3 x BCE + 0.1 x (MAPE of the primary energy, of the deposited energy and of the
binned pixel-intensity counts) + 25 x MAE of the angles; RMSprop. The generator is conditioned
on the real batch's energies and angles and its deposited energy and pixel-intensity counts are
compared with those of the real showers (as in the paper's code). Cells enter the networks as
E^0.85 (Sect. 4: "alpha = 0.85"), E in image units; deposited energies are summed after undoing
the power. The pixel-intensity bins of the paper's code are cuts in GeV^0.85 on its CLIC data;
here they are fixed fractions of the image unit (the typical largest cell), :data:`BIN_EDGES`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from calogeo.generative import GenBatch
from calogeo_generative.base import LatentGAN
from calogeo_generative.blocks import (
    Shape,
    UpsampleConv,
    bce_logits,
    clip,
    incident_energy,
    mae,
    mape,
)

__all__ = [
    "GAN3D",
    "GAN3DDiscriminator",
    "GAN3DGenerator",
    "deposited_energy",
    "gan3d_discriminator_loss",
    "gan3d_generator_loss",
    "pixel_intensity_counts",
    "upsampling_plan",
]

POWER = 0.85
"""Cells enter as E^0.85 (Belayneh et al. Sect. 4)."""
WEIGHTS = (3.0, 0.1, 25.0)
"""Loss weights of BCE, the MAPE terms and the angle MAE (Belayneh et al. Sect. 4.2)."""
BIN_EDGES = (1e-6, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3)
"""Edges of the eight pixel-intensity bins (empty cells, then up to 1e-3, ..., above 0.3), in
the networks' units (image units^0.85), as many as in the 3DGAN code."""

GEN_KERNELS = ((8, 6, 6), (8, 5, 8), (8, 3, 5))
"""Generator kernels (depth, rows, cols): the paper's 6x6x8, 5x8x8, 3x5x8 in (x, y, z)."""
GEN_UPSAMPLING = ((2, 3, 3), (3, 2, 2))
"""Up-sampling after the first and second generator convolutions (paper (3, 3, 2), (2, 2, 3))."""
DISC_KERNEL = (6, 5, 6)
"""Discriminator kernel (depth, rows, cols): the paper's 5x6x6 in (x, y, z)."""


@dataclass(frozen=True)
class AxisPlan:
    """One axis of the generator: start size, up-sampling factors, kernels of the four
    convolutions and the (before, after) zero padding of each (negative: crop)."""

    start: int
    factors: tuple[int, int]
    kernels: tuple[int, int, int, int]
    pads: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


def _split(total: int) -> tuple[int, int]:
    return (total // 2, total - total // 2)


def _axis_plan(n: int, kernels: Sequence[int], factors: Sequence[int]) -> AxisPlan:
    k4 = 2 if n >= 2 else 1
    t3 = n + k4 - 1  # size before the last convolution
    f1, f2 = factors
    while f1 * f2 > 1 and math.ceil(t3 / (f1 * f2)) < 2:  # keep a start grid of >= 2 cells
        f1, f2 = (1, f2) if f1 > 1 else (f1, 1)
    m2 = math.ceil(t3 / f2)  # size after the second convolution
    start = math.ceil(m2 / f1)
    k1 = min(kernels[0], start)
    k2 = min(kernels[1], m2)
    k3 = min(kernels[2], t3)
    pads = (_split(k1 - 1), _split(m2 + k2 - 1 - start * f1), _split(t3 + k3 - 1 - m2 * f2))
    return AxisPlan(start, (f1, f2), (k1, k2, k3, k4), pads)


def upsampling_plan(grid: Sequence[int]) -> list[AxisPlan]:
    """Per axis of a (depth, rows, cols) ``grid``: how the generator reaches it."""
    return [
        _axis_plan(n, [k[a] for k in GEN_KERNELS], [f[a] for f in GEN_UPSAMPLING])
        for a, n in enumerate(grid)
    ]


def _pad(x: torch.Tensor, pads: Sequence[tuple[int, int]]) -> torch.Tensor:
    flat = [p for pair in reversed(pads) for p in pair]  # F.pad wants the last axis first
    return F.pad(x, flat) if any(flat) else x


class GeneratorTower(nn.Module):
    """Dense -> start grid (8 channels) -> conv 64 -> BN -> up -> conv 6 -> BN -> up -> conv 6
    -> conv 1 -> ReLU: one group's (N, 1, depth, rows, cols) image in network units."""

    def __init__(self, inputs: int, grid: Sequence[int], filters: Sequence[int] = (64, 6, 6)):
        super().__init__()
        self.plan = upsampling_plan(grid)
        start = [p.start for p in self.plan]
        self.start = (8, *start)
        self.dense = nn.Linear(inputs, 8 * math.prod(start))
        k = [tuple(p.kernels[i] for p in self.plan) for i in range(4)]
        up = [tuple(p.factors[i] for p in self.plan) for i in range(2)]
        pads = [[p.pads[i] for p in self.plan] for i in range(3)]
        self.pad1 = pads[0]
        self.conv1 = nn.Conv3d(8, filters[0], k[0])
        self.norm1 = nn.BatchNorm3d(filters[0])
        self.conv2: nn.Module = UpsampleConv(
            up[0], pads[1], nn.Conv3d(filters[0], filters[1], k[1])
        )
        self.norm2 = nn.BatchNorm3d(filters[1])
        self.conv3: nn.Module = UpsampleConv(
            up[1], pads[2], nn.Conv3d(filters[1], filters[2], k[2])
        )
        self.conv4 = nn.Conv3d(filters[2], 1, k[3], bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = self.dense(h).view(-1, *self.start)
        x = self.norm1(F.leaky_relu(self.conv1(_pad(x, self.pad1)), 0.3))
        x = self.norm2(F.leaky_relu(self.conv2(x), 0.3))
        x = F.leaky_relu(self.conv3(x), 0.3)
        return F.relu(self.conv4(x))

    def for_inference(self) -> GeneratorTower:
        """An evaluation-mode copy, the same numbers up to rounding: the dense layer, zero
        padding and first convolution (all linear) one dense layer onto the first
        convolution's output (5-6x fewer multiplications at paper size), the up-sampling +
        convolution pairs phase convolutions (4-5x fewer)."""
        fused = copy.deepcopy(self).eval()
        start = [p.start for p in self.plan]
        middle = [p.start * p.factors[0] + sum(p.pads[1]) - p.kernels[1] + 1 for p in self.plan]
        fused.dense, fused.start = self._dense_through_conv1()
        fused.conv1, fused.pad1 = nn.Identity(), [(0, 0)] * 3
        fused.conv2 = self.conv2.fused(start)
        fused.conv3 = self.conv3.fused(middle)
        return fused

    def _dense_through_conv1(self) -> tuple[nn.Linear, tuple[int, ...]]:
        """The dense layer followed by the padding and ``conv1``, as one dense layer, and the
        (channels, grid) its output is viewed as."""
        with torch.no_grad():
            basis = self.dense.weight.t().reshape(-1, *self.start)  # one image per input
            weight = F.conv3d(_pad(basis, self.pad1), self.conv1.weight)
            bias = self.conv1(_pad(self.dense.bias.view(1, *self.start), self.pad1))
        linear = nn.Linear(weight.shape[0], weight[0].numel(), device="meta")  # no init: set below
        linear.weight = nn.Parameter(weight.flatten(1).t().contiguous(), requires_grad=False)
        linear.bias = nn.Parameter(bias.flatten(), requires_grad=False)
        return linear, tuple(weight.shape[1:])


class GAN3DGenerator(nn.Module):
    """Latent (N, ``latent``) and conditions (N, n_conditions) -> one non-negative voxel image
    per view input, (N, 1, depth, rows, cols), in image units^``power``."""

    def __init__(
        self,
        shapes: Sequence[Shape],
        n_conditions: int = 2,
        *,
        latent: int = 254,
        filters: Sequence[int] = (64, 6, 6),
    ) -> None:
        super().__init__()
        self.shapes = [tuple(s) for s in shapes]
        self.latent = latent
        self.towers = nn.ModuleList(
            GeneratorTower(latent + n_conditions, s[1:], filters) for s in self.shapes
        )

    def forward(self, z: torch.Tensor, conditions: torch.Tensor) -> list[torch.Tensor]:
        h = torch.cat([conditions, z], dim=1)
        return [tower(h) for tower in self.towers]

    def for_inference(self) -> GAN3DGenerator:
        """An evaluation-mode copy for generation (:meth:`GeneratorTower.for_inference`), with
        channels-last weights and activations (the phase convolutions write channels-last, so
        no convolution converts its input): at paper size on one CPU core 8.0 ms a shower in
        fp32 and 4.2 ms in bf16 (batch 16), 7-9x less than the network as trained."""
        fused = copy.deepcopy(self)
        fused.towers = nn.ModuleList(t.for_inference() for t in self.towers)
        return fused.eval().to(memory_format=torch.channels_last_3d)


def _disc_tower(shape: Shape, filters: Sequence[int], dropout: float) -> nn.Sequential:
    channels, *extent = shape
    modules: list[nn.Module] = []
    for i, out in enumerate(filters):
        if i == 0:
            k = clip(DISC_KERNEL, extent)
            modules.append(nn.ConstantPad3d(_pads_same(k), 0.0))
        else:
            if i < 3:  # one layer of zero padding in depth before the 2nd and 3rd
                modules.append(nn.ConstantPad3d((0, 0, 0, 0, 1, 1), 0.0))
                extent[0] += 2
            k = clip(DISC_KERNEL, extent)
            extent = [e - kk + 1 for e, kk in zip(extent, k, strict=True)]
        modules += [nn.Conv3d(channels, out, k), nn.LeakyReLU(0.3)]
        if i > 0:
            modules.append(nn.BatchNorm3d(out))
        modules.append(nn.Dropout(dropout))
        channels = out
    modules += [nn.AvgPool3d(clip((2, 2, 2), extent)), nn.Flatten()]
    return nn.Sequential(*modules)


def _pads_same(k: Sequence[int]) -> tuple[int, ...]:
    return tuple(p for kk in reversed(k) for p in ((kk - 1) // 2, kk - 1 - (kk - 1) // 2))


class GAN3DDiscriminator(nn.Module):
    """Voxel images (one per view input, network units) -> (real/fake logit (N, 1), primary
    energy (N, 1) in condition units, the further conditions (N, n_conditions - 1) or None)."""

    def __init__(
        self,
        shapes: Sequence[Shape],
        n_conditions: int = 2,
        *,
        filters: Sequence[int] = (16, 8, 8, 8),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.shapes = [tuple(s) for s in shapes]
        self.towers = nn.ModuleList(_disc_tower(s, filters, dropout) for s in self.shapes)
        with torch.no_grad():
            self.eval()
            width = sum(
                t(torch.zeros(1, *s)).shape[1]
                for t, s in zip(self.towers, self.shapes, strict=True)
            )
            self.train()
        self.real_fake = nn.Linear(width, 1)
        self.energy = nn.Linear(width, 1)
        self.angles = nn.Linear(width, n_conditions - 1) if n_conditions > 1 else None

    def forward(
        self, images: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        h = torch.cat([t(x) for t, x in zip(self.towers, images, strict=True)], dim=1)
        angles = self.angles(h) if self.angles is not None else None
        return self.real_fake(h), self.energy(h), angles


def deposited_energy(images: Sequence[torch.Tensor], power: float = POWER) -> torch.Tensor:
    """(N, 1) summed cell energy of images in (energy unit)^``power``, in the energy unit."""
    return sum(x.clamp(min=0).pow(1.0 / power).flatten(1).sum(dim=1, keepdim=True) for x in images)


def pixel_intensity_counts(
    images: Sequence[torch.Tensor],
    edges: Sequence[float] = BIN_EDGES,
    softness: float = 0.1,
) -> torch.Tensor:
    """(N, len(edges) + 1) soft counts of the cells below the first edge (empty), between
    consecutive edges and above the last (network units). The 3DGAN code counts with hard
    cuts, which carry no gradient; here each cut is a sigmoid in log(E) of width ``softness``."""
    x = torch.cat([img.flatten(1) for img in images], dim=1).clamp(min=0)
    logx = torch.log(x + 1e-12)
    above = torch.stack([torch.sigmoid((logx - math.log(e)) / softness) for e in edges], dim=2)
    ones = torch.ones_like(above[..., :1])
    zeros = torch.zeros_like(above[..., :1])
    steps = torch.cat([ones, above, zeros], dim=2)
    return (steps[..., :-1] - steps[..., 1:]).sum(dim=1)


def gan3d_generator_loss(
    logit_fake: torch.Tensor,
    energy_fake: torch.Tensor,
    angles_fake: torch.Tensor | None,
    fake: Sequence[torch.Tensor],
    real: Sequence[torch.Tensor],
    conditions: torch.Tensor,
    *,
    power: float = POWER,
    edges: Sequence[float] = BIN_EDGES,
    weights: tuple[float, float, float] = WEIGHTS,
) -> torch.Tensor:
    """Eq. 1 for the generator: w_G BCE(D(G), real) + w_P (MAPE(E_pred, E) + MAPE(deposited
    energy, the real showers') + MAPE(pixel-intensity counts, the real showers')) + w_A
    MAE(angles_pred, angles). ``real`` are the showers whose conditions G was given; counts
    are compared relative to at least one cell."""
    w_g, w_p, w_a = weights
    energy = incident_energy(conditions)
    loss = w_g * bce_logits(logit_fake, 1.0) + w_p * (
        mape(energy_fake, energy)
        + mape(deposited_energy(fake, power), deposited_energy(real, power))
        + mape(pixel_intensity_counts(fake, edges), pixel_intensity_counts(real, edges), eps=1.0)
    )
    if angles_fake is not None:
        loss = loss + w_a * mae(angles_fake, conditions[:, 1:])
    return loss


def gan3d_discriminator_loss(
    real_outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
    real_conditions: torch.Tensor,
    fake_outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
    fake_conditions: torch.Tensor,
    *,
    real_target: float | torch.Tensor = 1.0,
    fake_target: float | torch.Tensor = 0.0,
    weights: tuple[float, float, float] = WEIGHTS,
) -> torch.Tensor:
    """Eq. 1 for the discriminator, on a real and a generated batch (each passed through D on
    its own): w_G BCE + w_P MAPE(E_pred, E) + w_A MAE(angles_pred, angles) for both, the
    targets possibly switched labels."""
    w_g, w_p, w_a = weights
    loss = torch.zeros((), device=real_conditions.device)
    for (logit, energy, angles), conditions, target in (
        (real_outputs, real_conditions, real_target),
        (fake_outputs, fake_conditions, fake_target),
    ):
        loss = loss + w_g * bce_logits(logit, target)
        loss = loss + w_p * mape(energy, incident_energy(conditions))
        if angles is not None:
            loss = loss + w_a * mae(angles, conditions[:, 1:])
    return loss


class GAN3D(LatentGAN):
    """3DGAN (Belayneh et al. 2020, Sect. 4) on the ``voxels`` view of any geometry,
    conditioned on the energy and the polar angle; see the module docstring. Paper preset:
    Sect. 4.1-4.2 and the 3DGAN code (Keras RMSprop defaults, batches of 128, 5% label
    switching); ``small``: narrower networks for two CPU cores."""

    name = "gan3d"
    description = "3DGAN: 3D convolutional GAN with energy and angle heads (Belayneh et al. 2020)"
    view = "voxels"
    conditions = ("energy", "theta")
    phase_networks: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "critic": ("discriminator",),
        "generator": ("generator",),
    }
    defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {
            "latent": 254,
            "gen_filters": [64, 6, 6],
            "disc_filters": [16, 8, 8, 8],
            "dropout": 0.2,
            "power": POWER,
            "loss_weights": list(WEIGHTS),
            "lr_generator": 1e-3,
            "lr_discriminator": 1e-3,
            "epochs": 60,
            "batch_size": 128,
            "n_critic": 1,
            "label_switch": 0.05,
        },
        "small": {
            "latent": 62,
            "gen_filters": [16, 6, 6],
            "disc_filters": [8, 8, 8, 8],
            "dropout": 0.2,
            "power": POWER,
            "loss_weights": list(WEIGHTS),
            "lr_generator": 1e-3,
            "lr_discriminator": 1e-3,
            "epochs": 10,
            "batch_size": 64,
            "n_critic": 1,
            "label_switch": 0.05,
            "energy_scaled": True,
        },
    }

    def build_networks(self) -> dict[str, nn.Module]:
        h, shapes, n = self.hparams, self.input_view.shapes, self.n_conditions
        return {
            "generator": GAN3DGenerator(
                shapes, n, latent=int(h["latent"]), filters=[int(f) for f in h["gen_filters"]]
            ),
            "discriminator": GAN3DDiscriminator(
                shapes,
                n,
                filters=[int(f) for f in h["disc_filters"]],
                dropout=float(h["dropout"]),
            ),
        }

    def optimiser(self, name: str, params: Any) -> torch.optim.Optimizer:
        """RMSprop with Keras' defaults (rho 0.9, eps 1e-7) and ``lr_<name>``."""
        lr = float(self.hparams[f"lr_{name}"])
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7)

    def output_power(self) -> float:
        return float(self.hparams["power"])

    def sample(
        self, nets: Mapping[str, nn.Module], cond: torch.Tensor, generator: Any = None
    ) -> list[torch.Tensor]:
        power = float(self.hparams["power"])
        return [x.clamp(min=0).pow(1.0 / power) for x in self.generated(nets, cond, generator)]

    def loss(
        self, phase: str, nets: Mapping[str, nn.Module], batch: GenBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        d, n, power = nets["discriminator"], len(batch.cond), float(self.hparams["power"])
        w_g, w_p, w_a = (float(w) for w in self.hparams["loss_weights"])
        real = [x.pow(power) for x in batch.real]
        fake = self.generated(nets, batch.cond)
        if phase == "critic":
            fake = [f.detach() for f in fake]
            loss = gan3d_discriminator_loss(
                d(real),
                batch.cond,
                d(fake),
                batch.cond,
                real_target=self.targets(n, True, batch.cond.device),
                fake_target=self.targets(n, False, batch.cond.device),
                weights=(w_g, w_p, w_a),
            )
            return loss, {}
        logit, energy, angles = d(fake)
        loss = gan3d_generator_loss(
            logit, energy, angles, fake, real, batch.cond, power=power, weights=(w_g, w_p, w_a)
        )
        ratio = deposited_energy(fake, power) / deposited_energy(real, power).clamp(min=1e-12)
        return loss, {"deposit_ratio": ratio.mean().item()}
