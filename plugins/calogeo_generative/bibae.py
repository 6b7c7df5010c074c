"""BIB-AE: Buhmann et al., "Hadrons, better, faster, stronger", Mach. Learn.: Sci. Technol. 3
(2022) 025014, Sect. 3.2, and the photon BIB-AE it extends (Buhmann et al., Comput. Softw. Big
Sci. 5 (2021) 13, arXiv:2005.05334). Sizes and loss weights from the authors' public code for
the 48x25x25 ILD AHCAL window.

On the ``voxels`` view (one 3D grid per layer group), so it runs on any geometry.

Encoder (one trunk per group): three 3D convolutions (1 -> ngf -> 2 ngf -> 4 ngf channels,
kernel 3, stride 2, layer normalisation, leaky ReLU 0.2), flattened, the conditions appended,
two linear layers (-> 100 ngf -> 512) and the mean and log-variance of ``z_enc`` = 24 encoded
latent numbers. Decoder: the 24 encoded numbers, ``z_rand`` = 488 pure noise numbers (together
the paper's 512) and the conditions go through three linear layers (-> 512 -> 100 ngf -> ngf x
a start grid of a quarter of the group's grid), two 3D transposed convolutions (kernel 4, stride
2) up to the grid (cropped, centred), then the full-size 3D convolutions of the paper (kernel 3:
ngf -> ngf -> 2 ngf -> 4 ngf -> 2 ngf -> 1) with layer normalisation and a ReLU output
(ngf = 8). The decoder is the network ``generator``.

Loss of encoder and decoder (Eqs. 2-5): - beta_CL C_L(E(x)) - beta_C C(x, D(E(x))) + beta_KLD
KLD + beta_MMD MMD(E(x), N(0, 1)), with beta_KLD = 0.1 and beta_MMD = 100 (the authors' code).
The sample critic C is the dual-purpose critic: it sees the pair (input, candidate) as two
channels, (x, x) as real and (x, D(E(x))) as fake, so it judges realism and reconstruction at
once; besides its convolutions it gets minibatch information (the differences between the
events' sums and spreads, plain and log-scaled, embedded and averaged over the batch). The latent
critic C_L tells encoded latents from N(0, 1) draws. Both are WGAN-GP critics (lambda 10), and
each is a pair of identical networks (Sect. 3.2, "Dual and resetting critics"): ``critic`` and
``latent_critic`` train throughout, ``critic_reset`` and ``latent_critic_reset`` get fresh
weights and a fresh optimiser state at the start of every epoch; the encoder and decoder see the
mean of each pair. Every optimiser is Adam with an exponential learning-rate decay of 0.97 per
epoch (learning rates 5e-5, the latent critic's 2e-4). During training the threshold function
maps every decoder cell below ``threshold_mip`` (0.1) of a MIP to zero
(:func:`calogeo.observables.mip_energy_gev`; the smallest MIP of the group's layers).

Post-processor (Sect. 3.2, "Improved post processing"): trained after the BIB-AE, on its frozen
encoder and decoder (:meth:`posttrain`), to turn the reconstruction of x into x: ten 1x1x1
convolutions (ndf = 128, layer normalisation, leaky ReLU 0.01) conditioned on the image sum and
the energy, added to its input (a correction; the last convolution starts at zero). Loss: cell
MSE, two sorted-kernel MMD terms on the cell-energy spectrum in MIP units (a narrow and a wide
Gaussian kernel, so the MIP peak and the spectrum's tail are both seen), MSE and MAE of the
sorted cell energies of each event, and the MSE of the batch-mean images (weights 1, 5, 5, 10,
10, 1e-4).

Generation (Sect. 3.2, "BIB-AE with KDE latent space sampling"): after the post-processor, the
encoder maps the training set onto latent samples (mean + spread x noise), and a Gaussian
kernel density estimate is fitted to them with the energy label as one more dimension (a product
kernel, Scott's bandwidth per dimension). For a requested energy a kernel centre is drawn by
rejection sampling (a uniform proposal accepted with the energy kernel's weight at the requested
energy), its latent numbers are smeared by the kernel, the noise part is drawn from N(0, 1), and
decoder and post-processor make the shower. Before the estimate exists (the per-epoch fidelity
number) latents come from N(0, 1).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from calogeo import observables
from calogeo.adversarial import gradient_penalty
from calogeo.generative import GenBatch, GenerativeModel
from calogeo_generative.base import inference_form
from calogeo_generative.blocks import DepthTapConv3d
from calogeo_generative.voxel_norm import (
    VoxelNormLeaky,
    first_layer_products,
    voxel_norm_leaky,
    voxel_norm_leaky_dot,
)

__all__ = [
    "BIBAE",
    "Decoder",
    "Encoder",
    "LatentCritic",
    "LatentKDE",
    "PostProcessor",
    "SampleCritic",
    "gaussian_mmd",
    "sorted_cells",
]

Grid = tuple[int, int, int]

CRITICS = ("critic", "critic_reset")
LATENT_CRITICS = ("latent_critic", "latent_critic_reset")
LAMBDA_GP = 10.0
"""Gradient-penalty weight (Gulrajani et al. 2017)."""


def _down(grid: Sequence[int]) -> Grid:
    """Grid after a kernel-3, stride-2, padding-1 convolution."""
    return tuple((n + 1) // 2 for n in grid)  # type: ignore[return-value]


class _Trunk(nn.Module):
    """Three stride-2 3D convolutions with layer normalisation and leaky ReLU, flattened."""

    def __init__(self, grid: Grid, in_channels: int, width: int, norm: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels, shape = in_channels, grid
        for mult in (1, 2, 4):
            shape = _down(shape)
            layers.append(nn.Conv3d(channels, mult * width, 3, 2, 1, bias=not norm))
            if norm:
                layers.append(nn.LayerNorm(list(shape)))
            layers.append(nn.LeakyReLU(0.2))
            channels = mult * width
        self.main = nn.Sequential(*layers, nn.Flatten())
        self.n_out = channels * math.prod(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class Encoder(nn.Module):
    """View arrays (N, 1, depth, rows, cols) per group and conditions -> latent mean and
    log-variance (N, ``z_enc``) each."""

    def __init__(
        self, grids: Sequence[Grid], n_conditions: int, ngf: int, z_enc: int, z_full: int
    ) -> None:
        super().__init__()
        self.trunks = nn.ModuleList(_Trunk(g, 1, ngf) for g in grids)
        n_in = sum(t.n_out for t in self.trunks) + n_conditions
        self.head = nn.Sequential(
            nn.Linear(n_in, 100 * ngf),
            nn.LeakyReLU(0.2),
            nn.Linear(100 * ngf, z_full),
            nn.LeakyReLU(0.2),
        )
        self.mu = nn.Linear(z_full, z_enc)
        self.logvar = nn.Linear(z_full, z_enc)

    def forward(
        self, arrays: Sequence[torch.Tensor], cond: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        feats = [t(a) for t, a in zip(self.trunks, arrays, strict=True)]
        h = self.head(torch.cat([*feats, cond], dim=1))
        return self.mu(h), self.logvar(h)


class _DecoderBranch(nn.Module):
    """Shared features -> one group's (N, 1, depth, rows, cols) image, non-negative."""

    def __init__(self, grid: Grid, n_in: int, ngf: int, full: Sequence[int]) -> None:
        super().__init__()
        self.grid = grid
        self.start = tuple(max(1, math.ceil(n / 4)) for n in grid)
        self.ngf = ngf
        self.project = nn.Linear(n_in, ngf * math.prod(self.start))
        up: list[nn.Module] = []
        shape = self.start
        for _ in range(2):
            shape = tuple(2 * n for n in shape)
            up += [
                nn.ConvTranspose3d(ngf, ngf, 4, 2, 1, bias=False),
                nn.LayerNorm(list(shape)),
                nn.LeakyReLU(0.2),
            ]
        self.up = nn.Sequential(*up)
        self.full_shape = shape
        convs: list[nn.Module] = []
        channels = ngf
        for i, out in enumerate((*full, 1)):
            convs.append(nn.Conv3d(channels, out, 3, 1, 1, bias=False))
            convs.append(nn.LayerNorm(list(grid)) if i < len(full) else nn.Identity())
            convs.append(nn.LeakyReLU(0.2) if i < len(full) else nn.ReLU())
            channels = out
        self.convs = nn.Sequential(*convs)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.project(h), 0.2).view(-1, self.ngf, *self.start)
        x = self.up(x)
        lo = [(f - n) // 2 for f, n in zip(self.full_shape, self.grid, strict=True)]
        x = x[
            :,
            :,
            lo[0] : lo[0] + self.grid[0],
            lo[1] : lo[1] + self.grid[1],
            lo[2] : lo[2] + self.grid[2],
        ]
        return self.convs(x)


class Decoder(nn.Module):
    """Latent (N, z_enc + z_rand) and conditions -> one image per group, non-negative."""

    def __init__(
        self,
        grids: Sequence[Grid],
        n_conditions: int,
        ngf: int,
        z_full: int,
        full: Sequence[int],
    ) -> None:
        super().__init__()
        self.head = nn.Sequential(
            nn.Linear(z_full + n_conditions, z_full),
            nn.LeakyReLU(0.2),
            nn.Linear(z_full, 100 * ngf),
            nn.LeakyReLU(0.2),
        )
        self.branches = nn.ModuleList(_DecoderBranch(g, 100 * ngf, ngf, full) for g in grids)

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> list[torch.Tensor]:
        h = self.head(torch.cat([z, cond], dim=1))
        return [b(h) for b in self.branches]

    def for_inference(self) -> Decoder:
        """An evaluation-mode copy for generation, the same numbers up to rounding: channels-last
        weights and activations, every layer normalisation and leaky ReLU one
        :class:`~calogeo_generative.voxel_norm.VoxelNormLeaky` and the one-channel output
        convolutions :class:`DepthTapConv3d` (3-4x faster on one core)."""
        fast = copy.deepcopy(self).eval().requires_grad_(False)
        for branch in fast.branches:
            layers = list(branch.convs)
            last = max(i for i, m in enumerate(layers) if isinstance(m, nn.Conv3d))
            layers[last] = DepthTapConv3d(layers[last])
            branch.up = _fused_norms(branch.up)
            branch.convs = _fused_norms(layers)
        return fast.to(memory_format=torch.channels_last_3d)


def _fused_norms(layers: Sequence[nn.Module]) -> nn.Sequential:
    """``layers`` with every layer normalisation + leaky ReLU pair as one VoxelNormLeaky."""
    out: list[nn.Module] = []
    for layer in layers:
        if isinstance(layer, nn.LeakyReLU) and out and isinstance(out[-1], nn.LayerNorm):
            out[-1] = VoxelNormLeaky(out[-1], layer.negative_slope)
        else:
            out.append(layer)
    return nn.Sequential(*out)


def _batch_statistics(x: torch.Tensor) -> torch.Tensor:
    """(N, 4): sum and spread of each event's cells, plain and log-scaled (sums as log(1 + sum))."""
    flat = x.flatten(1)
    logged = torch.log1p(flat.clamp_min(0))
    return torch.stack(
        [torch.log1p(flat.sum(1)), flat.std(1), torch.log1p(logged.sum(1)), logged.std(1)], dim=1
    )


class SampleCritic(nn.Module):
    """The dual-purpose critic: per group the pair (input, candidate) as two channels through a
    convolution trunk; minibatch information (the pairwise differences of the candidates' sums
    and spreads, plain and log-scaled, embedded and averaged over the batch); the conditions;
    two linear layers -> (N,) scores."""

    def __init__(self, grids: Sequence[Grid], n_conditions: int, ndf: int) -> None:
        super().__init__()
        self.trunks = nn.ModuleList(_Trunk(g, 2, ndf, norm=False) for g in grids)
        self.embed = nn.Sequential(nn.Linear(4 * len(grids), 16), nn.LeakyReLU(0.2))
        n_in = sum(t.n_out for t in self.trunks) + 16 + n_conditions
        self.head = nn.Sequential(
            nn.Linear(n_in, 16 * ndf), nn.LeakyReLU(0.2), nn.Linear(16 * ndf, 1)
        )

    def forward(
        self, inputs: Sequence[torch.Tensor], candidates: Sequence[torch.Tensor], cond: torch.Tensor
    ) -> torch.Tensor:
        feats = [
            t(torch.cat([x, y], dim=1))
            for t, x, y in zip(self.trunks, inputs, candidates, strict=True)
        ]
        stats = torch.cat([_batch_statistics(y) for y in candidates], dim=1)
        batch = self.embed(stats[:, None] - stats[None]).mean(dim=1)
        return self.head(torch.cat([*feats, batch, cond], dim=1)).squeeze(1)


class LatentCritic(nn.Module):
    """Encoded latents (N, z_enc) -> (N,) scores (real: N(0, 1) draws)."""

    def __init__(self, z_enc: int, width: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Linear(z_enc, width),
            nn.LeakyReLU(0.2),
            nn.Linear(width, width),
            nn.LeakyReLU(0.2),
            nn.Linear(width, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z).squeeze(1)


class PostProcessor(nn.Module):
    """Per group a stack of 1x1x1 convolutions with layer normalisation, conditioned on the image
    sum and the conditions, whose output is added to the input image, then ReLU: it starts as
    the identity (last convolution zero) and learns a correction, so its output cannot die
    into an all-zero image whose loss has no gradient. ``trained`` (a buffer, 0 or 1) says whether
    :meth:`BIBAE.posttrain` has run: generation uses the post-processor only then."""

    def __init__(
        self, grids: Sequence[Grid], n_conditions: int, ndf: int, n_layers: int = 10
    ) -> None:
        super().__init__()
        half = max(1, ndf // 2)
        self.cond = nn.Sequential(
            nn.Linear(1 + n_conditions, half),
            nn.LeakyReLU(0.01),
            nn.Linear(half, half),
            nn.LeakyReLU(0.01),
            nn.Linear(half, half),
            nn.LeakyReLU(0.01),
        )
        self.first = nn.ModuleList(
            nn.Sequential(nn.Conv3d(1, ndf, 1), nn.LayerNorm(list(g)), nn.LeakyReLU(0.01))
            for g in grids
        )
        self.rest = nn.ModuleList()
        for g in grids:
            layers: list[nn.Module] = []
            channels = ndf + half
            for _ in range(n_layers - 2):
                layers += [nn.Conv3d(channels, ndf, 1), nn.LayerNorm(list(g)), nn.LeakyReLU(0.01)]
                channels = ndf
            layers.append(nn.Conv3d(channels, 1, 1, bias=False))
            nn.init.zeros_(layers[-1].weight)  # starts as the identity
            self.rest.append(nn.Sequential(*layers))
        self.register_buffer("trained", torch.zeros(()))

    def forward(self, arrays: Sequence[torch.Tensor], cond: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for first, rest, x in zip(self.first, self.rest, arrays, strict=True):
            c = self.cond(torch.cat([x.flatten(1).sum(1, keepdim=True), cond], dim=1))
            h = first(x)
            c = c[:, :, None, None, None].expand(-1, -1, *h.shape[2:])
            out.append(torch.relu(x + rest(torch.cat([h, c], dim=1))))
        return out

    def for_inference(self) -> FlatPostProcessor:
        """An evaluation-mode copy for generation (:class:`FlatPostProcessor`)."""
        return FlatPostProcessor(self).eval().requires_grad_(False)


class FlatPostProcessor(nn.Module):
    """A :class:`PostProcessor` for generation, the same numbers up to rounding: per group and
    one event at a time, voxel-major, the 1x1x1 convolutions as (voxels, channels) x (channels,
    channels) products with the layer normalisations over the voxels and the leaky ReLUs in
    one pass each (:mod:`calogeo_generative.voxel_norm`; :class:`_FlatGroup`). Each
    normalisation removes what is constant over the voxels, so the convolutions' biases and the
    condition branch (constant over the voxels, added to the first convolution of ``rest``) drop
    out exactly: neither is computed, and the output depends on ``cond`` not at all. Under CPU
    autocast the chain runs in the autocast dtype (bfloat16: products accumulate in float32,
    the normalisation statistics are float64)."""

    def __init__(self, post: PostProcessor) -> None:
        super().__init__()
        self.register_buffer("trained", post.trained.detach().clone())
        self.groups = nn.ModuleList(
            _FlatGroup(first, rest) for first, rest in zip(post.first, post.rest, strict=True)
        )

    def forward(self, arrays: Sequence[torch.Tensor], cond: torch.Tensor) -> list[torch.Tensor]:
        """The post-processed arrays; ``cond`` is accepted for the interface only."""
        del cond  # normalised away (see the class docstring)
        out = []
        for group, x in zip(self.groups, arrays, strict=True):
            correction = group(x.flatten(1))
            out.append(torch.relu(x + correction.view_as(x)))
        return out


class _FlatGroup(nn.Module):
    """One group of a :class:`FlatPostProcessor`: one event's voxels (V,) -> its correction (V,)
    float32. The first convolution (1 -> ndf channels, weight w) and its normalisation are
    together a_c u_v + b_v, a = w / sqrt(w^2 var(x) + eps) per channel, u = (x - mean(x)) x the
    normalisation's weight and b its bias per voxel, so the second convolution's output comes
    from :func:`~calogeo_generative.voxel_norm.first_layer_products`; the last convolution is a
    dot product with the last activations
    (:func:`~calogeo_generative.voxel_norm.voxel_norm_leaky_dot`)."""

    SLOPE = 0.01
    """The leaky ReLU's negative slope."""

    def __init__(self, first: nn.Module, rest: nn.Module) -> None:
        super().__init__()
        convs = [m for m in (*first.children(), *rest.children()) if isinstance(m, nn.Conv3d)]
        norms = [m for m in (*first.children(), *rest.children()) if isinstance(m, nn.LayerNorm)]
        ndf = convs[0].out_channels
        self.first = _frozen(convs[0].weight.flatten())
        self.second = _frozen(convs[1].weight.flatten(1)[:, :ndf])
        self.eps = [float(n.eps) for n in norms]
        self.hidden = nn.ParameterList(
            _frozen(c.weight.flatten(1).t().contiguous()) for c in convs[2:-1]
        )
        self.last = _frozen(convs[-1].weight.flatten())
        self.norm_weights = nn.ParameterList(_frozen(n.weight.flatten()) for n in norms)
        self.norm_biases = nn.ParameterList(_frozen(n.bias.flatten()) for n in norms)

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        """(N, V) voxels -> (N, V) float32 corrections, one event at a time in two reused
        (V, ndf) buffers."""
        device = flat.device.type
        autocast = torch.is_autocast_enabled(device)
        dtype = torch.get_autocast_dtype(device) if autocast else torch.float32
        y, h = (flat.new_empty(1, flat.shape[1], len(self.first), dtype=dtype) for _ in range(2))
        hidden = [w.to(dtype) for w in self.hidden]
        eps, weights, biases, k = self.eps, self.norm_weights, self.norm_biases, len(self.eps) - 1
        out = []
        for x in flat.float():
            var, mean = torch.var_mean(x, correction=0)
            a = self.first * torch.rsqrt(self.first.square() * var + eps[0])
            u = (x - mean) * weights[0]
            first_layer_products(u, biases[0], a, self.second, self.SLOPE, y[0])
            for i, weight in enumerate(hidden, start=1):
                voxel_norm_leaky(y, weights[i], biases[i], eps[i], self.SLOPE, out=h)
                torch.mm(h[0], weight, out=y[0])
            out.append(
                voxel_norm_leaky_dot(y, weights[k], biases[k], eps[k], self.SLOPE, self.last)
            )
        return torch.cat(out)


def _frozen(t: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(t.detach().clone(), requires_grad=False)


# -- loss terms ------------------------------------------------------------------------------


def gaussian_mmd(a: torch.Tensor, b: torch.Tensor, widths: Sequence[float]) -> torch.Tensor:
    """Squared maximum mean discrepancy (Gretton et al., JMLR 13 (2012) 723, Eq. 3, biased
    form) between samples ``a`` (n, d) and ``b`` (m, d) with a sum of Gaussian kernels of the
    given widths."""

    def kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(x, y).pow(2)
        return sum(torch.exp(-d2 / (2.0 * w * w)) for w in widths)  # type: ignore[return-value]

    return kernel(a, a).mean() + kernel(b, b).mean() - 2.0 * kernel(a, b).mean()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)), summed over latent numbers, averaged over events."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1).mean()


def sorted_cells(x: torch.Tensor, k: int) -> torch.Tensor:
    """(N, k) the ``k`` largest cell values of each event, largest first."""
    flat = x.flatten(1)
    return torch.topk(flat, min(k, flat.shape[1]), dim=1).values


def _threshold(x: torch.Tensor, level: float) -> torch.Tensor:
    """The threshold function: cells below ``level`` set to zero (gradient kept above)."""
    return x * (x >= level)


# -- the latent density --------------------------------------------------------------------


class LatentKDE:
    """Gaussian kernel density estimate of (latent..., energy) points with a product kernel
    (Scott's rule per dimension), sampled at requested energies by rejection sampling."""

    def __init__(self, points: torch.Tensor) -> None:
        self.points = points.float()
        n, d = self.points.shape
        spread = self.points.std(dim=0).clamp_min(1e-6) if n > 1 else torch.ones(d)
        self.bandwidth = spread * n ** (-1.0 / (d + 4))  # Scott, Multivariate Density Estimation

    def state(self) -> dict[str, torch.Tensor]:
        return {"points": self.points.cpu(), "bandwidth": self.bandwidth.cpu()}

    @classmethod
    def from_state(cls, state: Mapping[str, torch.Tensor]) -> LatentKDE:
        kde = cls.__new__(cls)
        kde.points = state["points"].float()
        kde.bandwidth = state["bandwidth"].float()
        return kde

    def sample(
        self, energy: torch.Tensor, generator: Any = None, max_rounds: int = 200
    ) -> torch.Tensor:
        """(N, d - 1) latents for energies (N,) in the units of the last column: a kernel centre
        per event drawn with weight exp(-(E - e_i)^2 / 2 h_E^2) (uniform proposals accepted with
        that probability; an event still open after ``max_rounds`` takes the centre nearest in
        energy), then smeared by the latent kernels."""
        device = energy.device
        points = self.points.to(device)
        bw = self.bandwidth.to(device)
        n = len(energy)
        choice = torch.full((n,), -1, dtype=torch.long, device=device)
        for _ in range(max_rounds):
            open_ = choice < 0
            if not bool(open_.any()):
                break
            m = int(open_.sum())
            proposal = torch.randint(len(points), (m,), generator=generator, device=device)
            weight = torch.exp(-0.5 * ((energy[open_] - points[proposal, -1]) / bw[-1]) ** 2)
            accept = torch.rand(m, generator=generator, device=device) < weight
            choice[torch.nonzero(open_).squeeze(1)[accept]] = proposal[accept]
        still = choice < 0
        if bool(still.any()):
            distance = (energy[still, None] - points[None, :, -1]).abs()
            choice[still] = distance.argmin(dim=1)
        centre = points[choice, :-1]
        noise = torch.randn(centre.shape, generator=generator, device=device)
        return centre + noise * bw[:-1]


# -- the model -------------------------------------------------------------------------------


class BIBAE(GenerativeModel):
    """BIB-AE with latent KDE sampling and a post-processor (Buhmann et al. 2021, Sect. 3.2)."""

    name = "bibae"
    description = (
        "BIB-AE with resetting critics, post-processor and latent KDE (Buhmann et al. 2021)"
    )
    view = "voxels"
    conditions = ("energy",)
    generation_options = ("postprocess",)
    phase_networks: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "critic": (*CRITICS, *LATENT_CRITICS),
        "generator": ("encoder", "generator"),
    }
    defaults: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "paper": {  # the authors' code for the 48x25x25 AHCAL window; epochs of Sect. 3.2
            "epochs": 37,
            "pp_epochs": 105,
            "batch_size": 16,
            "ngf": 8,
            "full_convs": (8, 16, 32, 16),
            "ndf": 32,
            "latent_width": 256,
            "z_enc": 24,
            "z_rand": 488,
            "pp_ndf": 128,
            "pp_layers": 10,
            "lr_encoder": 5e-5,
            "lr_generator": 5e-5,
            "lr_critic": 5e-5,
            "lr_latent_critic": 2e-4,
            "lr_postprocessor": 5e-5,
            "lr_decay": 0.97,
            "betas": (0.5, 0.9),
            "beta_critic": 1.0,
            "beta_latent_critic": 1.0,
            "beta_kld": 0.1,
            "beta_mmd": 100.0,
            "beta_mse": 0.0,
            "pp_weights": (1.0, 5.0, 5.0, 10.0, 10.0, 1e-4),
            "threshold_mip": 0.1,
            "kde_events": 50000,
        },
        "small": {  # minutes on two CPU cores
            "epochs": 6,
            "pp_epochs": 6,
            "batch_size": 32,
            "ngf": 4,
            "full_convs": (4, 8),
            "ndf": 4,
            "latent_width": 64,
            "z_enc": 12,
            "z_rand": 20,
            "pp_ndf": 16,
            "pp_layers": 5,
            "lr_encoder": 5e-4,
            "lr_generator": 5e-4,
            "lr_critic": 5e-4,
            "lr_latent_critic": 1e-3,
            "lr_postprocessor": 1e-3,
            "lr_decay": 0.9,
            "betas": (0.5, 0.9),
            "beta_critic": 1.0,
            "beta_latent_critic": 1.0,
            "beta_kld": 0.1,
            "beta_mmd": 100.0,
            "beta_mse": 1.0,
            "pp_weights": (1.0, 5.0, 5.0, 10.0, 10.0, 1e-4),
            "threshold_mip": 0.1,
            "kde_events": 5000,
        },
    }

    def __init__(self, geometry: Any, hparams: Mapping[str, Any]) -> None:
        super().__init__(geometry, hparams)
        self._kde: LatentKDE | None = None

    # -- networks --------------------------------------------------------------------------

    @property
    def grids(self) -> list[Grid]:
        """(depth, rows, cols) of every view input."""
        return [tuple(int(n) for n in s[1:]) for s in self.input_view.shapes]  # type: ignore[misc]

    def _size(self, name: str) -> int:
        return int(self.hparams[name])

    def generation_networks(self) -> dict[str, nn.Module]:
        """The core's networks with the decoder and the post-processor in their inference
        forms."""
        nets = super().generation_networks()
        for slot in ("generator", "postprocessor"):
            nets[slot] = inference_form(self, slot, nets[slot])
        return nets

    def build_networks(self) -> dict[str, nn.Module]:
        grids, n_cond = self.grids, self.n_conditions
        z_enc, z_full = self._size("z_enc"), self._size("z_enc") + self._size("z_rand")
        nets: dict[str, nn.Module] = {
            "encoder": Encoder(grids, n_cond, self._size("ngf"), z_enc, z_full),
            "generator": Decoder(
                grids, n_cond, self._size("ngf"), z_full, tuple(self.hparams["full_convs"])
            ),
            "postprocessor": PostProcessor(
                grids, n_cond, self._size("pp_ndf"), self._size("pp_layers")
            ),
        }
        for name in CRITICS:
            nets[name] = SampleCritic(grids, n_cond, self._size("ndf"))
        for name in LATENT_CRITICS:
            nets[name] = LatentCritic(z_enc, self._size("latent_width"))
        return nets

    def optimiser(self, name: str, params: Any) -> torch.optim.Optimizer:
        base = name.removesuffix("_reset")
        lr = float(self.hparams.get(f"lr_{base}", 1e-4))
        betas = tuple(self.hparams.get("betas", (0.5, 0.9)))
        opt = torch.optim.Adam(params, lr=lr, betas=(float(betas[0]), float(betas[1])))
        for group in opt.param_groups:
            group["initial_lr"] = lr
        return opt

    def on_epoch_start(
        self, nets: Mapping[str, nn.Module], optimisers: Mapping[str, Any], epoch: int
    ) -> None:
        """Learning rates decayed by ``lr_decay`` per epoch; from the second epoch on, the
        resetting critics get fresh weights and a fresh optimiser state."""
        decay = float(self.hparams.get("lr_decay", 1.0)) ** (epoch - 1)
        for opt in optimisers.values():
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * decay
        if epoch > 1:
            for name in (CRITICS[1], LATENT_CRITICS[1]):
                _reset(nets[name])
                optimisers[name].state.clear()

    # -- units and thresholds --------------------------------------------------------------

    def mip_image(self) -> list[float]:
        """Per view input, a MIP in image units: the smallest MIP of the group's layers."""
        mip = observables.mip_energy_gev(self.geometry)
        groups = [layer.group for layer in self.geometry.layers]
        return [
            float(min(m for m, g in zip(mip, groups, strict=True) if g == group))
            / self.image_unit_gev
            for group in self.geometry.groups
        ]

    def _levels(self) -> list[float]:
        fraction = float(self.hparams.get("threshold_mip", 0.1))
        return [fraction * m for m in self.mip_image()]

    def _thresholded(self, arrays: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [_threshold(a, level) for a, level in zip(arrays, self._levels(), strict=True)]

    # -- the autoencoder -------------------------------------------------------------------

    def _noise(self, n: int, device: Any, generator: Any = None) -> torch.Tensor:
        return torch.randn(n, self._size("z_rand"), generator=generator, device=device)

    def reconstruct(
        self, nets: Mapping[str, nn.Module], batch: GenBatch
    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
        """(thresholded decoder output, latent mean, log-variance, latent draw) for ``batch``."""
        mu, logvar = nets["encoder"](batch.real, batch.cond)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        latent = torch.cat([z, self._noise(len(z), z.device)], dim=1)
        return self._thresholded(nets["generator"](latent, batch.cond)), mu, logvar, z

    def sample(
        self,
        nets: Mapping[str, nn.Module],
        cond: torch.Tensor,
        generator: Any = None,
        postprocess: bool = True,
    ) -> list[torch.Tensor]:
        """The decoder's showers from KDE latents, then the post-processor's where it is trained
        and ``postprocess`` (``generate(..., postprocess=False)`` shows the decoder alone)."""
        n, device = len(cond), cond.device
        if self._kde is not None:
            z = self._kde.sample(cond[:, 0], generator)
        else:
            z = torch.randn(n, self._size("z_enc"), generator=generator, device=device)
        latent = torch.cat([z, self._noise(n, device, generator)], dim=1)
        out = self._thresholded(nets["generator"](latent, cond))
        post = nets["postprocessor"]
        if postprocess and bool(post.trained > 0):
            out = self._thresholded(post(out, cond))
        return out

    def loss(
        self, phase: str, nets: Mapping[str, nn.Module], batch: GenBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        real, cond = batch.real, batch.cond
        fake, mu, logvar, z = self.reconstruct(nets, batch)
        prior = torch.randn_like(z)
        if phase == "critic":
            fake = [f.detach() for f in fake]
            z = z.detach()
            total = torch.zeros((), device=cond.device)
            logs: dict[str, float] = {}
            for name in CRITICS:
                critic = nets[name]
                w = critic(real, real, cond).mean() - critic(real, fake, cond).mean()
                gp = gradient_penalty(lambda x, c=critic: c(real, x, cond), real, fake, LAMBDA_GP)
                total = total - w + gp
                logs[f"w_{name}"] = w.item()
            for name in LATENT_CRITICS:
                critic = nets[name]
                w = critic(prior).mean() - critic(z).mean()
                gp = gradient_penalty(lambda x, c=critic: c(x[0]), [prior], [z], LAMBDA_GP)
                total = total - w + gp
                logs[f"w_{name}"] = w.item()
            return total, logs
        h = self.hparams
        adv = sum(nets[name](real, fake, cond).mean() for name in CRITICS) / len(CRITICS)
        adv_latent = sum(nets[name](z).mean() for name in LATENT_CRITICS) / len(LATENT_CRITICS)
        kld = kl_divergence(mu, logvar)
        mmd = gaussian_mmd(z, prior, (0.5, 1.0, 2.0))
        loss = (
            -float(h["beta_critic"]) * adv
            - float(h["beta_latent_critic"]) * adv_latent
            + float(h["beta_kld"]) * kld
            + float(h["beta_mmd"]) * mmd
        )
        if float(h.get("beta_mse", 0.0)) > 0:
            mse = sum(F.mse_loss(f, r) for f, r in zip(fake, real, strict=True))
            loss = loss + float(h["beta_mse"]) * mse
        return loss, {"kld": kld.item(), "mmd_latent": mmd.item()}

    # -- the stage after the adversarial one -----------------------------------------------

    def posttrain(self, nets: Mapping[str, nn.Module], stream: Any, device: Any) -> None:
        """Train the post-processor on the frozen encoder and decoder (``pp_epochs``), then fit
        the latent density estimate. Its per-epoch losses go to ``training_state
        ["postprocessor_history"]``, the last of them into the last row of ``history``."""
        post = nets["postprocessor"]
        _reset(post)
        post.to(device)
        frozen = [nets["encoder"], nets["generator"]]
        for net in frozen:
            net.eval().requires_grad_(False)
        opt = self.optimiser("postprocessor", post.parameters())
        seed = int(self.hparams.get("seed", 0))
        batch_size = int(self.hparams.get("batch_size", 16))
        decay = float(self.hparams.get("lr_decay", 1.0))
        rows: list[dict[str, float]] = []
        try:
            for epoch in range(1, int(self.hparams.get("pp_epochs", 0)) + 1):
                for group in opt.param_groups:
                    group["lr"] = group["initial_lr"] * decay ** (epoch - 1)
                post.train()
                sums: dict[str, float] = {}
                count = 0
                rng = np.random.default_rng([seed, 1_000_000 + epoch])
                for showers in stream.batches(batch_size, rng):
                    if len(showers) < 2:
                        continue
                    batch = self.encode(showers, device)
                    with torch.no_grad():
                        recon = self.reconstruct(nets, batch)[0]
                    out = self._thresholded(post(recon, batch.cond))
                    loss, logs = self.postprocessor_loss(out, batch.real)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    for key, value in {"loss_postprocessor": loss.item(), **logs}.items():
                        sums[key] = sums.get(key, 0.0) + value
                    count += 1
                rows.append({"epoch": epoch, **{k: v / max(count, 1) for k, v in sums.items()}})
            post.trained.fill_(1.0)
            self.training_state["postprocessor_history"] = rows
            if rows and self.history:  # the last epoch's row shows where the stage ended
                self.history[-1].update({k: v for k, v in rows[-1].items() if k != "epoch"})
        finally:
            post.eval()
            for net in frozen:
                net.requires_grad_(True)
        self.fit_kde(nets, stream, device)

    def postprocessor_loss(
        self, out: Sequence[torch.Tensor], real: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The post-processor's loss (cell MSE, narrow and wide sorted-kernel MMD of the
        cell-energy spectrum in MIP units, sorted MSE and MAE, batch-mean MSE) against the real
        showers passed through the same threshold function as the output. The spectrum is that
        of every event's ``k`` largest cells, k the largest real hit count of the batch, zeros
        included: a missing hit counts as a zero against a real value, so an empty output is
        never a cheap match."""
        w = [float(v) for v in self.hparams["pp_weights"]]
        terms = {k: torch.zeros((), device=out[0].device) for k in _PP_TERMS}
        real = self._thresholded(real)
        for o, r, mip in zip(out, real, self.mip_image(), strict=True):
            k = max(1, int((r.flatten(1) > 0).sum(1).max()))
            so, sr = sorted_cells(o, k), sorted_cells(r, k)
            terms["mse"] = terms["mse"] + F.mse_loss(o, r)
            spectrum_o, spectrum_r = _spectrum(so / mip), _spectrum(sr / mip)
            terms["mmd_narrow"] = terms["mmd_narrow"] + gaussian_mmd(
                spectrum_o, spectrum_r, (0.1, 0.3)
            )
            terms["mmd_wide"] = terms["mmd_wide"] + gaussian_mmd(spectrum_o, spectrum_r, (1.0, 3.0))
            terms["sorted_mse"] = terms["sorted_mse"] + F.mse_loss(so, sr)
            terms["sorted_mae"] = terms["sorted_mae"] + F.l1_loss(so, sr)
            terms["batch_mean"] = terms["batch_mean"] + F.mse_loss(o.mean(0), r.mean(0))
        loss = sum(wi * terms[k] for wi, k in zip(w, _PP_TERMS, strict=True))
        return loss, {f"pp_{k}": v.item() for k, v in terms.items()}  # type: ignore[return-value]

    def fit_kde(self, nets: Mapping[str, nn.Module], stream: Any, device: Any) -> None:
        """The latent density: latent samples (mean + spread x N(0, 1), what the decoder was
        trained on) of up to ``kde_events`` training showers, with their energy condition as
        the last column. Means alone collapse onto a point when the encoder's posterior is
        close to the prior, a region the decoder never saw."""
        seed = int(self.hparams.get("seed", 0))
        limit = int(self.hparams.get("kde_events", 50000))
        points, n = [], 0
        encoder = nets["encoder"].eval()
        rng = np.random.default_rng([seed, 2_000_000])
        noise = torch.Generator(device=device).manual_seed(seed)
        with torch.no_grad():
            for showers in stream.batches(256, rng):
                batch = self.encode(showers[: limit - n], device)
                mu, logvar = encoder(batch.real, batch.cond)
                eps = torch.randn(mu.shape, generator=noise, device=mu.device)
                z = mu + eps * torch.exp(0.5 * logvar)
                points.append(torch.cat([z, batch.cond[:, :1]], dim=1).cpu())
                n += len(z)
                if n >= limit:
                    break
        self._kde = LatentKDE(torch.cat(points))

    # -- checkpoints -----------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self._kde is not None:
            state["kde"] = self._kde.state()
        return state

    def set_state(self, state: Mapping[str, Any]) -> None:
        super().set_state(state)
        if state and "kde" in state:
            self._kde = LatentKDE.from_state(state["kde"])


_PP_TERMS = ("mse", "mmd_narrow", "mmd_wide", "sorted_mse", "sorted_mae", "batch_mean")

SPECTRUM_VALUES = 2048
"""Cell values per sample kept for the spectrum MMD (a random subset: the kernel matrix grows
with its square)."""


def _spectrum(values: torch.Tensor) -> torch.Tensor:
    """(m, 1) the cell values of a batch (up to :data:`SPECTRUM_VALUES`, evenly spaced in rank
    so the subset keeps the spectrum's shape)."""
    flat = values.reshape(-1)
    if len(flat) > SPECTRUM_VALUES:
        flat = torch.sort(flat).values[:: math.ceil(len(flat) / SPECTRUM_VALUES)]
    return flat[:, None]


def _reset(net: nn.Module) -> None:
    """Fresh weights for every layer of ``net`` that has them."""
    for module in net.modules():
        if module is not net and hasattr(module, "reset_parameters"):
            module.reset_parameters()
