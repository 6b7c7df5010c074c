"""WGAN with an energy constrainer: Buhmann et al., "Hadrons, better, faster, stronger", Mach.
Learn.: Sci. Technol. 3 (2022) 025014, Sect. 3.1 (and the WGAN of Erdmann et al./Buhmann et al.
2021 it extends; sizes from the authors' public code for the 48x25x25 ILD AHCAL window).

On the ``voxels`` view, one generator chain and one critic trunk per layer group.

Generator: the energy condition and 100 latent numbers (uniform in [-1, 1]) go through one
3D transposed convolution each (1 -> 4 ngf and 100 -> 4 ngf channels, ngf = 32; further
conditions, e.g. a one-hot particle class, join the energy's) onto a start grid,
are concatenated and pass six transposed convolutions (8 ngf -> 4 ngf -> 2 ngf -> ngf -> 10 -> 5
-> 1 channels; kernels 4x2x2, 4x2x2, 4x4x4, 10x4x4, 8x3x3, 7x5x5 in (depth, rows, cols);
strides (2, 2, 2), (2, 2, 2), (2, 1, 1), 1, (1, 2, 2), 1; padding 1), each but the last with
layer normalisation and ReLU, ReLU on the output. The paper's 4x4x4 start grid gives exactly
48x25x25; for any other grid the start size of each axis is the smallest whose output covers
the axis, and the output is cropped to it, centred; an axis so short that this would generate
twice its cells or more keeps its size through 3-wide stride-1 kernels (:func:`axis_chain`).

Critic: the 3D residual network of the paper (Sect. 3.1: "3D-residual blocks", about 4 M
weights): a 4x5x5 convolution (64 filters, stride 1x2x2), instance norm, ReLU, 3^3 max pool
(stride 2), three basic blocks of 64 and four of 128 channels (the first of those with stride 2),
instance normalisation, global average pooling; the energy is appended and one linear output
gives the critic score. Strides are 1 along axes of one or two cells.

Constrainer: a fully connected energy regressor on all cells (cells -> 5000 -> 1000 -> 100 -> 1,
batch norm, dropout 0.2 and 0.1, leaky ReLU 0.2, ReLU output; Sect. 3.1: "a fully-connected
network ... 100 million constrainer weights": 155 M for 30,000 cells), trained first on
reference showers with an L1 loss and frozen; the generator loss adds kappa |(C(G) - E)^2 -
(C(real) - E)^2| (kappa = 1), the constrainer's error on generated showers against its error on
real ones of the same energy. WGAN-GP: critic loss D(G) - D(real) + lambda GP with lambda = 25
and 10 critic steps per generator step (the authors' code); Adam 1e-4 (G) and 1e-5 (critic),
betas (0.5, 0.9).

``small`` preset: ``energy_scaled`` (:mod:`calogeo_generative.base`): the generator's output is
multiplied by E / ``energy_unit_gev`` and the critic sees showers divided by it, so both work on
one scale for every energy (the instance-normalised critic cannot see an overall scale).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from calogeo.adversarial import gradient_penalty
from calogeo.generative import GenBatch
from calogeo_generative.base import LatentGAN, energy_factor
from calogeo_generative.blocks import DepthTapConv3d, Shape, mae

__all__ = [
    "WGAN",
    "Constrainer",
    "WGANCritic",
    "WGANGenerator",
    "axis_chain",
    "constrainer_loss",
    "start_grid",
    "wgan_critic_loss",
    "wgan_generator_loss",
]

LAMBDA_GP = 25.0
"""Gradient-penalty weight of the authors' code."""
KAPPA = 1.0
"""Constrainer-term weight of the authors' code."""

# (channels as a multiple of ngf or absolute, kernel, stride) of the six transposed convolutions
_CHAIN: tuple[tuple[int, tuple[int, int, int], tuple[int, int, int]], ...] = (
    (4, (4, 2, 2), (2, 2, 2)),
    (2, (4, 2, 2), (2, 2, 2)),
    (1, (4, 4, 4), (2, 1, 1)),
    (-10, (10, 4, 4), (1, 1, 1)),
    (-5, (8, 3, 3), (1, 2, 2)),
    (-1, (7, 5, 5), (1, 1, 1)),
)


def _chain_sizes(start: int, kernels: Sequence[int], strides: Sequence[int]) -> list[int]:
    sizes = [start]
    for kernel, stride in zip(kernels, strides, strict=True):
        sizes.append((sizes[-1] - 1) * stride - 2 + kernel)
    return sizes


def axis_chain(n: int, axis: int) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """(start size, kernels, strides) of the six transposed convolutions along ``axis`` for
    ``n`` cells: the paper's kernels and strides from the smallest start size whose output
    covers ``n`` (every intermediate size >= 1); where even that gives twice ``n`` or more
    (a short axis: CMS's single layer would come out 24 deep), start at ``n`` and keep the
    size with 3-wide, stride-1 kernels instead."""
    kernels = tuple(k[axis] for _, k, _ in _CHAIN)
    strides = tuple(s[axis] for _, _, s in _CHAIN)
    start = 1
    while (
        min(_chain_sizes(start, kernels, strides)) < 1
        or _chain_sizes(start, kernels, strides)[-1] < n
    ):
        start += 1
    if _chain_sizes(start, kernels, strides)[-1] >= 2 * n:
        return n, (3,) * len(_CHAIN), (1,) * len(_CHAIN)
    return start, kernels, strides


def start_grid(grid: Sequence[int]) -> tuple[int, ...]:
    """Per axis of ``grid`` (depth, rows, cols), the start size of :func:`axis_chain`:
    (4, 4, 4) for the paper's 48x25x25."""
    return tuple(axis_chain(n, axis)[0] for axis, n in enumerate(grid))


class GeneratorChain(nn.Module):
    """(E, latent) -> one group's (N, 1, depth, rows, cols) image, cropped to ``grid``."""

    def __init__(self, grid: Sequence[int], latent: int, ngf: int, n_conditions: int = 1) -> None:
        super().__init__()
        plans = [axis_chain(n, axis) for axis, n in enumerate(grid)]
        start = tuple(p[0] for p in plans)
        self.grid = tuple(grid)
        self.from_energy = nn.ConvTranspose3d(n_conditions, 4 * ngf, start, bias=False)
        self.from_latent = nn.ConvTranspose3d(latent, 4 * ngf, start, bias=False)
        sizes = [_chain_sizes(*p) for p in plans]
        self.full = tuple(s[-1] for s in sizes)
        layers: list[nn.Module] = []
        channels = 8 * ngf
        for i, (mult, _, _) in enumerate(_CHAIN):
            out = mult * ngf if mult > 0 else -mult
            kernel = tuple(p[1][i] for p in plans)
            stride = tuple(p[2][i] for p in plans)
            layers.append(nn.ConvTranspose3d(channels, out, kernel, stride, 1, bias=False))
            if i < len(_CHAIN) - 1:
                layers.append(nn.LayerNorm([s[i + 1] for s in sizes]))
            layers.append(nn.ReLU())
            channels = out
        self.main = nn.Sequential(*layers)

    def forward(self, conditions: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        e = self.from_energy(conditions.view(*conditions.shape, 1, 1, 1))
        h = self.from_latent(z.view(*z.shape, 1, 1, 1))
        x = self.main(torch.cat([e, h], dim=1))
        lo = [(f - n) // 2 for f, n in zip(self.full, self.grid, strict=True)]
        return x[
            :,
            :,
            lo[0] : lo[0] + self.grid[0],
            lo[1] : lo[1] + self.grid[1],
            lo[2] : lo[2] + self.grid[2],
        ]


class WGANGenerator(nn.Module):
    """Latent (N, ``latent``) and conditions (N, 1) -> one non-negative voxel image per view
    input, (N, 1, depth, rows, cols), in image units."""

    def __init__(
        self,
        shapes: Sequence[Shape],
        n_conditions: int = 1,
        *,
        latent: int = 100,
        ngf: int = 32,
    ) -> None:
        super().__init__()
        self.shapes = [tuple(s) for s in shapes]
        self.latent = latent
        self.chains = nn.ModuleList(
            GeneratorChain(s[1:], latent, ngf, n_conditions) for s in self.shapes
        )
        self.apply(authors_init)

    def forward(self, z: torch.Tensor, conditions: torch.Tensor) -> list[torch.Tensor]:
        return [chain(conditions, z) for chain in self.chains]

    def for_inference(self) -> WGANGenerator:
        """An evaluation-mode copy for generation in which every stride-1 transposed
        convolution is the equal direct convolution (flipped kernel, padding k - 1 - p): the
        CPU runs the 5 -> 1 channel output layer 2.8x faster that way."""
        fused = copy.deepcopy(self).eval()
        for chain in fused.chains:
            chain.main = nn.Sequential(*(_direct(m) for m in chain.main))
        return fused


def authors_init(module: nn.Module) -> None:
    """The authors' initialisation of generator and constrainer: (transposed) convolution and
    linear weights N(0, 0.02), normalisation scales N(1, 0.02), biases 0; it starts the
    generator near empty showers (PyTorch's default gives ~1 image unit in every voxel)."""
    if isinstance(module, (nn.ConvTranspose3d, nn.Conv3d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.LayerNorm, nn.BatchNorm1d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _direct(module: nn.Module) -> nn.Module:
    """A stride-1 transposed 3D convolution as the direct convolution it equals; a
    one-channel output without bias as its :class:`DepthTapConv3d`."""
    if not isinstance(module, nn.ConvTranspose3d) or any(s != 1 for s in module.stride):
        return module
    kernel = module.kernel_size
    pad = tuple(k - 1 - p for k, p in zip(kernel, module.padding, strict=True))
    conv = nn.Conv3d(module.in_channels, module.out_channels, kernel, padding=pad, bias=False)
    with torch.no_grad():
        conv.weight.copy_(module.weight.flip(2, 3, 4).transpose(0, 1))
    if module.bias is not None:
        conv.bias = nn.Parameter(module.bias.detach().clone())
    elif module.out_channels == 1:
        return DepthTapConv3d(conv)
    return conv.requires_grad_(False)


def _stride(extent: Sequence[int]) -> tuple[int, ...]:
    return tuple(2 if e > 2 else 1 for e in extent)


def _conv_out(extent: Sequence[int], k: Sequence[int], s: Sequence[int], p: Sequence[int]):
    return [(e + 2 * pp - kk) // ss + 1 for e, kk, ss, pp in zip(extent, k, s, p, strict=True)]


class ResBlock3d(nn.Module):
    """Two 3^3 convolutions (no bias) with instance norm, ReLU, and a (projected) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: tuple[int, ...]) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(c_in, c_out, 3, stride, 1, bias=False),
            nn.InstanceNorm3d(c_out),
            nn.ReLU(),
            nn.Conv3d(c_out, c_out, 3, 1, 1, bias=False),
            nn.InstanceNorm3d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if c_in != c_out or any(s != 1 for s in stride):
            self.shortcut = nn.Sequential(
                nn.Conv3d(c_in, c_out, 1, stride, bias=False), nn.InstanceNorm3d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


def _critic_trunk(shape: Shape, widths: Sequence[int], blocks: Sequence[int]) -> nn.Sequential:
    channels, *extent = shape
    stem_stride = (1, *(2 if e > 2 else 1 for e in extent[1:]))
    layers: list[nn.Module] = [
        nn.Conv3d(channels, widths[0], (4, 5, 5), stem_stride, (2, 3, 3), bias=False),
        nn.InstanceNorm3d(widths[0]),
        nn.ReLU(),
    ]
    extent = _conv_out(extent, (4, 5, 5), stem_stride, (2, 3, 3))
    pool = _stride(extent)
    layers.append(nn.MaxPool3d(3, pool, 1))
    extent = _conv_out(extent, (3, 3, 3), pool, (1, 1, 1))
    c_in = widths[0]
    for stage, (width, n) in enumerate(zip(widths, blocks, strict=True)):
        for b in range(n):
            stride = _stride(extent) if stage > 0 and b == 0 else (1, 1, 1)
            layers.append(ResBlock3d(c_in, width, stride))
            extent = _conv_out(extent, (3, 3, 3), stride, (1, 1, 1))
            c_in = width
    layers += [nn.AdaptiveAvgPool3d(1), nn.Flatten()]
    return nn.Sequential(*layers)


class WGANCritic(nn.Module):
    """Voxel images (one per view input) and conditions -> score (N,)."""

    def __init__(
        self,
        shapes: Sequence[Shape],
        n_conditions: int = 1,
        *,
        widths: Sequence[int] = (64, 128),
        blocks: Sequence[int] = (3, 4),
    ) -> None:
        super().__init__()
        self.shapes = [tuple(s) for s in shapes]
        self.trunks = nn.ModuleList(_critic_trunk(s, widths, blocks) for s in self.shapes)
        self.head = nn.Linear(widths[-1] * len(self.shapes) + n_conditions, 1)

    def forward(self, images: Sequence[torch.Tensor], conditions: torch.Tensor) -> torch.Tensor:
        features = [t(x) for t, x in zip(self.trunks, images, strict=True)]
        return self.head(torch.cat([*features, conditions], dim=1)).squeeze(1)


class Constrainer(nn.Module):
    """All cells of the view images -> incident energy (N, 1) in condition units."""

    def __init__(
        self,
        shapes: Sequence[Shape],
        *,
        hidden: Sequence[int] = (5000, 1000, 100),
        dropout: Sequence[float] = (0.2, 0.1, 0.0),
    ) -> None:
        super().__init__()
        n_cells = sum(math.prod(s) for s in shapes)
        layers: list[nn.Module] = []
        width = n_cells
        for i, (h, p) in enumerate(zip(hidden, dropout, strict=True)):
            layers.append(nn.Linear(width, h))
            if i < len(hidden) - 1:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.LeakyReLU(0.2))
            if p > 0:
                layers.append(nn.Dropout(p))
            width = h
        layers += [nn.Linear(width, 1), nn.ReLU()]
        self.main = nn.Sequential(*layers)
        self.apply(authors_init)

    def forward(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        x = torch.cat([img.flatten(1) for img in images], dim=1)
        return self.main(x)


def constrainer_loss(predicted: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
    """L1 loss of the constrainer's energy on reference showers (the authors' choice)."""
    return mae(predicted, energy)


def wgan_critic_loss(
    critic: Callable[[list[torch.Tensor], torch.Tensor], torch.Tensor],
    real: Sequence[torch.Tensor],
    fake: Sequence[torch.Tensor],
    conditions: torch.Tensor,
    lambda_gp: float = LAMBDA_GP,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(critic loss mean D(G) - mean D(real) + lambda GP, Wasserstein estimate mean D(real) -
    mean D(G)); ``fake`` generated with the real showers' ``conditions``."""
    real, fake = list(real), [f.detach() for f in fake]
    w = critic(real, conditions).mean() - critic(fake, conditions).mean()
    penalty = gradient_penalty(lambda x: critic(x, conditions), real, fake, weight=lambda_gp)
    return penalty - w, w.detach()


def wgan_generator_loss(
    score_fake: torch.Tensor,
    constrained_fake: torch.Tensor,
    constrained_real: torch.Tensor,
    energy: torch.Tensor,
    kappa: float = KAPPA,
) -> torch.Tensor:
    """-mean D(G) + kappa mean |(C(G) - E)^2 - (C(real) - E)^2|, energies in GeV as in the
    authors' code (C the frozen constrainer; the real showers have the energies ``energy`` G
    was given)."""
    error = ((constrained_fake - energy) ** 2 - (constrained_real - energy) ** 2).abs()
    return -score_fake.mean() + kappa * error.mean()


class WGAN(LatentGAN):
    """WGAN-GP with an energy constrainer (Buhmann et al. 2021, Sect. 3.1) on the ``voxels``
    view of any geometry; see the module docstring. Paper preset: Sect. 3.1 and the authors'
    code; ``small``: narrower networks and a smaller constrainer for two CPU cores."""

    name = "wgan"
    description = "WGAN-GP with a frozen energy constrainer (Buhmann et al. 2021)"
    view = "voxels"
    conditions = ("energy",)
    latent_law = "uniform"
    defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {
            "latent": 100,
            "ngf": 32,
            "critic_widths": [64, 128],
            "critic_blocks": [3, 4],
            "constrainer_hidden": [5000, 1000, 100],
            "constrainer_epochs": 10,
            "lambda_gp": LAMBDA_GP,
            "kappa": KAPPA,
            "lr_generator": 1e-4,
            "lr_critic": 1e-5,
            "lr_constrainer": 1e-4,
            "betas": [0.5, 0.9],
            "epochs": 82,
            "batch_size": 100,
            "n_critic": 10,
        },
        "small": {
            "latent": 32,
            "ngf": 8,
            "critic_widths": [16, 32],
            "critic_blocks": [1, 1],
            "constrainer_hidden": [256, 64, 16],
            "constrainer_epochs": 5,
            "lambda_gp": LAMBDA_GP,
            "kappa": KAPPA,
            "lr_generator": 1e-4,
            "lr_critic": 1e-4,
            "lr_constrainer": 1e-3,
            "betas": [0.5, 0.9],
            "epochs": 8,
            "batch_size": 64,
            "n_critic": 5,
            "energy_scaled": True,
        },
    }

    def build_networks(self) -> dict[str, nn.Module]:
        h, shapes, n = self.hparams, self.input_view.shapes, self.n_conditions
        constrainer = Constrainer(shapes, hidden=[int(w) for w in h["constrainer_hidden"]])
        return {
            "generator": WGANGenerator(shapes, n, latent=int(h["latent"]), ngf=int(h["ngf"])),
            "critic": WGANCritic(
                shapes,
                n,
                widths=[int(w) for w in h["critic_widths"]],
                blocks=[int(b) for b in h["critic_blocks"]],
            ),
            "constrainer": constrainer.requires_grad_(False),
        }

    def pretrain(self, nets: Mapping[str, nn.Module], stream: Any, device: Any) -> None:
        """Train the constrainer on the reference showers (L1, Adam), then freeze it."""
        constrainer = nets["constrainer"].train().requires_grad_(True)
        betas = tuple(float(b) for b in self.hparams["betas"])
        opt = torch.optim.Adam(
            constrainer.parameters(), lr=float(self.hparams["lr_constrainer"]), betas=betas
        )
        seed = int(self.hparams.get("seed", 0))
        for epoch in range(int(self.hparams["constrainer_epochs"])):
            rng = np.random.default_rng([seed, 7919, epoch])
            for showers in stream.batches(int(self.hparams["batch_size"]), rng):
                if len(showers) < 2:
                    continue
                batch = self.encode(showers, device)
                loss = constrainer_loss(constrainer(batch.real), batch.cond[:, :1])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        constrainer.eval().requires_grad_(False)

    def critic_of(
        self, nets: Mapping[str, nn.Module]
    ) -> Callable[[Sequence[torch.Tensor], torch.Tensor], torch.Tensor]:
        """The critic as the losses call it: where ``energy_scaled``, it sees showers divided
        by the energy condition (the response and the shape, on one scale for every E)."""
        critic = nets["critic"]
        if not self.hparams.get("energy_scaled", False):
            return critic

        def scaled(images: Sequence[torch.Tensor], cond: torch.Tensor) -> torch.Tensor:
            return critic([x / energy_factor(cond, x.dim()) for x in images], cond)

        return scaled

    def loss(
        self, phase: str, nets: Mapping[str, nn.Module], batch: GenBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        critic = self.critic_of(nets)
        fake = self.generated(nets, batch.cond)
        if phase == "critic":
            loss, w = wgan_critic_loss(
                critic, batch.real, fake, batch.cond, float(self.hparams["lambda_gp"])
            )
            return loss, {"wasserstein": w.item()}
        constrainer = nets["constrainer"].eval()  # the trainer puts every network in train()
        unit = self.energy_unit_gev
        energy = batch.energy_gev.view(-1, 1)
        with torch.no_grad():
            constrained_real = constrainer(batch.real) * unit
        constrained_fake = constrainer(fake) * unit
        loss = wgan_generator_loss(
            critic(fake, batch.cond),
            constrained_fake,
            constrained_real,
            energy,
            float(self.hparams["kappa"]),
        )
        return loss, {"constrainer_error_gev": mae(constrained_fake, energy).item()}
