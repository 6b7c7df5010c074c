"""CaloGAN: Paganini, de Oliveira, Nachman, "CaloGAN: Simulating 3D high energy particle showers
in multilayer electromagnetic calorimeters with generative adversarial networks", Phys. Rev. D 97
(2018) 014021, Sect. IV (architecture, Figs. 4-5; losses Eqs. 2-4; training IV C).

On the ``layers`` view. The generator runs one LAGAN stream per group of layers: a dense layer
from the latent space to a (rows + 2) x (cols + 2) x 36 map, a 2x2 convolution (16 filters),
batch normalisation, then two 2x2 locally connected layers (6 filters, then one per layer of the
stream), leaky ReLU throughout and ReLU on the output. The paper's calorimeter has three layers
of three image shapes, so three one-layer streams. Here every block of the view (consecutive
layers of one group and image shape) is cut into streams of at most ``max_stream_layers``
consecutive layers, one output channel per layer: CaloGAN's geometry keeps its three one-layer
streams, ATLAS EMB1-3 gets three, a 25-layer CLIC ECAL block four streams of 7, 6, 6 and 6
layers (about 5.5 X0 each, like CaloGAN's 5.8 / 22.3 / 2.8 X0 layers), the 48-layer ILD AHCAL
six of 8. One stream per layer would make a 25-layer 51x51 ECAL 25 dense layers of 27 M weights.
Between consecutive streams the in-painting attention unit (Sect. IV A) mixes the current
stream's pre-ReLU image I with the previous stream's last layer resized to this shape, I':
W * I + (1 - W) * I', with a per-pixel, per-layer weight W from a 3x3 locally connected layer
on both (a sigmoid: the paper's two-channel softmax for one layer).

The latent vector (1024 N(0, 1) numbers) is multiplied by the energy condition (E over the
largest training energy: the paper's E / 100 GeV for its 1-100 GeV showers). Further condition
columns (a one-hot particle class, angles) multiply it by 1 + a learnt linear map of them, the
Hadamard class embedding of the CaloGAN code generalised.

The discriminator runs one LAGAN trunk per stream (2x2 convolution, 64 filters; three locally
connected layers, 16 x 3x3 with column stride 2, 8 x 2x2, 8 x 2x2 with column stride 2, each with
batch normalisation) and adds minibatch discrimination on the trunk features, the soft sparsity
per layer and minibatch discrimination on it, the per-layer energies, their sum E_tot (as an
estimate of the incident energy E_hat = E_tot / response, ``energy_response`` the mean visible
fraction of the training data: 1 for the paper's data, which hold all the energy; here files
hold visible energy), |E - E_hat| in GeV, the 5 GeV tolerance indicator
1{|E - E_hat| > 5 GeV} and minibatch discrimination on the layer energies (Sect. IV A; sizes
from the CaloGAN code). Because of batch normalisation and minibatch discrimination a batch
must be all real or all generated (as the paper trains).

Losses (Eqs. 3-4): generator BCE(D(G), real) + lambda_E |E - E_hat(G)|; discriminator
BCE(D(real), real) + BCE(D(G), fake) + lambda_E (|E - E_hat(real)| + |E - E_hat(G)|) with
lambda_E = 0.05 (Sect. IV C). Adam, learning rate 2e-5 (D) and 2e-4 (G), batches of 256.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from calogeo.generative import GenBatch
from calogeo.showers import Showers
from calogeo_generative.base import LatentGAN
from calogeo_generative.blocks import (
    BatchLastLocallyConnected2d,
    LocallyConnected2d,
    MinibatchDiscrimination,
    Shape,
    bce_logits,
    incident_energy,
    layer_energies,
    mae,
    resize_image,
    soft_sparsity,
)

__all__ = [
    "CaloGAN",
    "CaloGANDiscriminator",
    "CaloGANGenerator",
    "Stream",
    "calogan_discriminator_loss",
    "calogan_generator_loss",
    "streams",
]

TOLERANCE_GEV = 5.0
"""Energy tolerance feature epsilon = 5 GeV (Paganini et al. Sect. IV A)."""
LAMBDA_E = 0.05
"""Weight of the energy term L_E (Paganini et al. Sect. IV C)."""


@dataclass(frozen=True)
class Stream:
    """Layers ``first .. first + n_layers - 1`` (channels) of view input ``input``."""

    input: int
    first: int
    n_layers: int
    image: tuple[int, int]

    @property
    def shape(self) -> Shape:
        return (self.n_layers, *self.image)


def streams(shapes: Sequence[Shape], max_stream_layers: int) -> list[Stream]:
    """The streams of a ``layers`` view with input ``shapes`` (layers, rows, cols): each block
    cut into the fewest runs of at most ``max_stream_layers`` layers, as even as possible."""
    out = []
    for i, (n, rows, cols) in enumerate(shapes):
        parts = -(-n // max(1, max_stream_layers))
        sizes = [n // parts + (1 if k < n % parts else 0) for k in range(parts)]
        first = 0
        for size in sizes:
            out.append(Stream(i, first, size, (rows, cols)))
            first += size
    return out


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.3)  # Keras' LeakyReLU default slope, as in the CaloGAN code


class GeneratorStream(nn.Module):
    """Dense -> (rows + 2, cols + 2, ``dense_channels``) -> 2x2 conv -> BN -> 2x2 LC -> 2x2 LC
    (no bias): the pre-ReLU image (N, layers, rows, cols) of one stream."""

    def __init__(
        self,
        latent: int,
        shape: Shape,
        dense_channels: int,
        conv_filters: int,
        lc_filters: int,
    ) -> None:
        super().__init__()
        layers, rows, cols = shape
        self.map_shape = (dense_channels, rows + 2, cols + 2)
        self.dense = nn.Linear(latent, dense_channels * (rows + 2) * (cols + 2))
        self.conv = _same2x2(dense_channels, conv_filters)
        self.norm = nn.BatchNorm2d(conv_filters)
        self.lc1 = LocallyConnected2d((conv_filters, rows + 2, cols + 2), lc_filters, (2, 2))
        self.lc2 = LocallyConnected2d((lc_filters, rows + 1, cols + 1), layers, (2, 2), bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = self.dense(h).view(-1, *self.map_shape)
        x = self.norm(_lrelu(self.conv(x)))
        return self.lc2(_lrelu(self.lc1(x)))

    def for_inference(self) -> FoldedStream:
        """The same stream in evaluation mode with fewer operations (:class:`FoldedStream`)."""
        conv = self.conv[1]
        pad = self.conv[0].padding
        with torch.no_grad():
            w = self.dense.weight.double().t().reshape(-1, *self.map_shape)  # (latent, C, H, W)
            b = self.dense.bias.double().view(1, *self.map_shape)
            kernel = conv.weight.double()
            # rows in (row, col, channel) order: the map comes out batch-last
            weight = F.conv2d(F.pad(w, pad), kernel).permute(2, 3, 1, 0).flatten(0, 2)
            bias = F.conv2d(F.pad(b, pad), kernel, conv.bias.double()).permute(2, 3, 1, 0)
            bias = bias.flatten()
            dense = nn.Linear(weight.shape[1], weight.shape[0])
            dense.weight.copy_(weight)
            dense.bias.copy_(bias)
            lc1 = copy.deepcopy(self.lc1)
            scale = self.norm.weight / torch.sqrt(self.norm.running_var + self.norm.eps)
            shift = self.norm.bias - self.norm.running_mean * scale
            taps = lc1.kernel[0] * lc1.kernel[1]  # unfold orders patch rows channel-major
            w1 = self.lc1.weight.double()
            lc1.weight.copy_(w1 * scale.double().repeat_interleave(taps)[None, :, None])
            extra = torch.einsum("lfo,f->ol", w1, shift.double().repeat_interleave(taps))
            lc1.bias.copy_(self.lc1.bias.double() + extra)
        shape = (*self.map_shape[1:], conv.out_channels)
        folded = FoldedStream(dense, shape, lc1.batch_last(), self.lc2.batch_last())
        return folded.eval().requires_grad_(False)


class FoldedStream(nn.Module):
    """A :class:`GeneratorStream` for generation: the dense layer and the linear 2x2 "same"
    convolution after it are one dense layer onto the convolution's output map (``shape``,
    (rows, cols, channels); 2.25x fewer weights at 36 -> 16 channels), the evaluation-mode batch
    normalisation is folded into the first locally connected layer, and the map stays
    batch-last (rows, cols, channels, N) through both locally connected layers
    (:class:`BatchLastLocallyConnected2d`). The same numbers up to rounding; the output is the
    (N, layers, rows, cols) view of the batch-last image."""

    def __init__(
        self,
        dense: nn.Linear,
        shape: Shape,
        lc1: BatchLastLocallyConnected2d,
        lc2: BatchLastLocallyConnected2d,
    ) -> None:
        super().__init__()
        self.dense = dense
        self.map_shape = shape
        self.lc1 = lc1
        self.lc2 = lc2

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = torch.addmm(self.dense.bias[:, None], self.dense.weight, h.t())  # (map, N)
        x = F.leaky_relu(x.view(*self.map_shape, -1), 0.3, inplace=True)
        x = F.leaky_relu(self.lc1(x), 0.3, inplace=True)
        return self.lc2(x).permute(3, 2, 0, 1)


def _same2x2(c_in: int, c_out: int) -> nn.Sequential:
    """A 2x2 convolution with Keras' "same" padding (one zero row and column after)."""
    return nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(c_in, c_out, 2))


class InPainting(nn.Module):
    """W * I + (1 - W) * I', W = sigmoid(3x3 locally connected layer on [I, I'])."""

    def __init__(self, shape: Shape) -> None:
        super().__init__()
        layers, rows, cols = shape
        self.lc = LocallyConnected2d((layers + 1, rows + 2, cols + 2), layers, (3, 3))

    def forward(self, image: torch.Tensor, carried: torch.Tensor) -> torch.Tensor:
        w = torch.sigmoid(self.lc(F.pad(torch.cat([image, carried], dim=1), (1, 1, 1, 1))))
        return w * image + (1 - w) * carried

    def for_inference(self) -> BatchLastInPainting:
        """The same layer on batch-last data for generation (:class:`BatchLastInPainting`)."""
        return BatchLastInPainting(self.lc.batch_last()).eval()


class BatchLastInPainting(nn.Module):
    """An :class:`InPainting` for generation: the padded pair [I, I'] is written batch-last
    (rows + 2, cols + 2, layers + 1, N) into one zero buffer and the 3x3 locally connected layer
    runs on it without unfold (:class:`BatchLastLocallyConnected2d`); inputs and output are
    (N, layers, rows, cols) views. The same numbers up to rounding."""

    def __init__(self, lc: BatchLastLocallyConnected2d) -> None:
        super().__init__()
        self.lc = lc

    def forward(self, image: torch.Tensor, carried: torch.Tensor) -> torch.Tensor:
        image, carried = image.permute(2, 3, 1, 0), carried.permute(2, 3, 1, 0)
        rows, cols, layers, n = image.shape
        padded = image.new_zeros(rows + 2, cols + 2, layers + 1, n)
        padded[1:-1, 1:-1, :layers] = image
        padded[1:-1, 1:-1, layers:] = carried
        w = torch.sigmoid(self.lc(padded))
        return (w * image + (1 - w) * carried).permute(3, 2, 0, 1)


class CaloGANGenerator(nn.Module):
    """Latent (N, ``latent``) and conditions (N, n_conditions) -> one non-negative image per
    view input, (N, layers, rows, cols), in image units."""

    def __init__(
        self,
        shapes: Sequence[Shape],
        n_conditions: int = 1,
        *,
        latent: int = 1024,
        max_stream_layers: int = 8,
        dense_channels: int = 36,
        conv_filters: int = 16,
        lc_filters: int = 6,
        attention: bool = True,
    ) -> None:
        super().__init__()
        self.shapes = [tuple(s) for s in shapes]
        self.latent = latent
        self.streams = streams(self.shapes, max_stream_layers)
        self.bodies = nn.ModuleList(
            GeneratorStream(latent, s.shape, dense_channels, conv_filters, lc_filters)
            for s in self.streams
        )
        self.attention = nn.ModuleList(
            InPainting(s.shape) if attention else nn.Identity() for s in self.streams[1:]
        )
        self.use_attention = attention
        self.embed = nn.Linear(n_conditions - 1, latent) if n_conditions > 1 else None
        if self.embed is not None:
            nn.init.zeros_(self.embed.weight)
            nn.init.zeros_(self.embed.bias)

    def forward(self, z: torch.Tensor, conditions: torch.Tensor) -> list[torch.Tensor]:
        h = z * incident_energy(conditions)
        if self.embed is not None:
            h = h * (1 + self.embed(conditions[:, 1:]))
        images: list[torch.Tensor] = []
        previous = None
        for k, (stream, body) in enumerate(zip(self.streams, self.bodies, strict=True)):
            x = body(h)
            if previous is not None and self.use_attention:
                x = self.attention[k - 1](x, resize_image(previous[:, -1:], stream.image))
            previous = x
            images.append(x)
        out: list[list[torch.Tensor]] = [[] for _ in self.shapes]
        for stream, x in zip(self.streams, images, strict=True):
            out[stream.input].append(F.relu(x))
        return [torch.cat(parts, dim=1) if len(parts) > 1 else parts[0] for parts in out]

    def for_inference(self) -> CaloGANGenerator:
        """An evaluation-mode copy whose streams are :class:`FoldedStream`: the same numbers
        up to rounding, about 2.3x fewer multiplications at paper size."""
        fast = copy.deepcopy(self).eval()
        fast.bodies = nn.ModuleList(body.for_inference() for body in self.bodies)
        if self.use_attention:
            fast.attention = nn.ModuleList(a.for_inference() for a in self.attention)
        return fast.requires_grad_(False)


def _trunk(shape: Shape, conv_filters: int, lc_filters: Sequence[int]) -> nn.Sequential:
    """The CaloGAN discriminator trunk of one stream: 2x2 conv -> leaky ReLU, then per entry of
    ``lc_filters`` zero padding 1 -> locally connected (3x3 with column stride 2, 2x2, 2x2 with
    column stride 2) -> leaky ReLU -> BN; flattened."""
    layers, rows, cols = shape
    modules: list[nn.Module] = [_same2x2(layers, conv_filters), _LeakyReLU()]
    kernels = [(3, 3), (2, 2), (2, 2)]
    col_strides = [2, 1, 2]
    in_shape: Shape = (conv_filters, rows, cols)
    for filters, kernel, stride in zip(lc_filters, kernels, col_strides, strict=False):
        padded = (in_shape[0], in_shape[1] + 2, in_shape[2] + 2)
        lc = LocallyConnected2d(padded, filters, kernel, (1, stride if in_shape[2] > 1 else 1))
        modules += [nn.ZeroPad2d(1), lc, _LeakyReLU(), nn.BatchNorm2d(filters)]
        in_shape = lc.out_shape
    modules.append(nn.Flatten())
    return nn.Sequential(*modules)


class _LeakyReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _lrelu(x)


class CaloGANDiscriminator(nn.Module):
    """View images (one per input, image units) and conditions -> (real/fake logit (N, 1),
    estimated incident energy E_hat (N, 1) in GeV). ``image_unit_gev`` and ``energy_unit_gev``
    turn images and the energy condition into GeV for the energy features."""

    def __init__(
        self,
        shapes: Sequence[Shape],
        n_conditions: int = 1,
        *,
        max_stream_layers: int = 8,
        conv_filters: int = 64,
        lc_filters: Sequence[int] = (16, 8, 8),
        mbd_kernels: int = 10,
        mbd_dims: int = 10,
        energy_response: float = 1.0,
        image_unit_gev: float = 1.0,
        energy_unit_gev: float = 100.0,
        sparsity_scale_gev: float = 1e-3,
    ) -> None:
        super().__init__()
        self.shapes = [tuple(s) for s in shapes]
        self.streams = streams(self.shapes, max_stream_layers)
        self.trunks = nn.ModuleList(_trunk(s.shape, conv_filters, lc_filters) for s in self.streams)
        widths = []
        with torch.no_grad():
            for s, trunk in zip(self.streams, self.trunks, strict=True):
                trunk.eval()
                widths.append(trunk(torch.zeros(1, *s.shape)).shape[1])
                trunk.train()
        self.feature_mbd = nn.ModuleList(
            MinibatchDiscrimination(w, mbd_kernels, mbd_dims) for w in widths
        )
        self.sparsity_mbd = nn.ModuleList(
            MinibatchDiscrimination(s.n_layers, mbd_kernels, mbd_dims) for s in self.streams
        )
        n_layers = sum(s[0] for s in self.shapes)
        self.energy_mbd = MinibatchDiscrimination(n_layers, mbd_kernels, mbd_dims)
        width = (
            sum(widths)
            + 2 * mbd_kernels * len(self.streams)
            + n_layers  # sparsity per layer
            + n_layers  # layer energies
            + 3  # E_tot, |E - E_hat|, tolerance indicator
            + mbd_kernels
            + (n_conditions - 1)
        )
        self.head = nn.Linear(width, 1)
        self.register_buffer("energy_response", torch.tensor(float(energy_response)))
        self.register_buffer("image_unit_gev", torch.tensor(float(image_unit_gev)))
        self.register_buffer("energy_unit_gev", torch.tensor(float(energy_unit_gev)))
        self.sparsity_scale = sparsity_scale_gev / float(image_unit_gev)

    def forward(
        self, images: Sequence[torch.Tensor], conditions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        features = []
        for k, stream in enumerate(self.streams):
            x = images[stream.input][:, stream.first : stream.first + stream.n_layers]
            f = self.trunks[k](x)
            sparsity = soft_sparsity(x, self.sparsity_scale)
            features += [f, self.feature_mbd[k](f), sparsity, self.sparsity_mbd[k](sparsity)]
        energies = layer_energies(images) * self.image_unit_gev  # GeV
        total = energies.sum(dim=1, keepdim=True)
        e_hat = total / self.energy_response
        well = (incident_energy(conditions) * self.energy_unit_gev - e_hat).abs()
        too_far = (well > TOLERANCE_GEV).to(well.dtype)
        features += [  # scaled as the CaloGAN code does for its 100 GeV showers
            energies / (0.1 * self.energy_unit_gev),
            total / self.energy_unit_gev,
            well,
            too_far,
            self.energy_mbd(energies),
            conditions[:, 1:],
        ]
        return self.head(torch.cat(features, dim=1)), e_hat


def calogan_generator_loss(
    logit_fake: torch.Tensor,
    e_hat_fake: torch.Tensor,
    energy: torch.Tensor,
    lambda_e: float = LAMBDA_E,
) -> torch.Tensor:
    """Eq. 3 as a loss to minimise: BCE(D(G(z, E)), real) + lambda_E |E - E_hat(G(z, E))|."""
    return bce_logits(logit_fake, 1.0) + lambda_e * mae(e_hat_fake, energy)


def calogan_discriminator_loss(
    logit_real: torch.Tensor,
    logit_fake: torch.Tensor,
    e_hat_real: torch.Tensor,
    energy_real: torch.Tensor,
    e_hat_fake: torch.Tensor,
    energy_fake: torch.Tensor,
    *,
    real_target: float | torch.Tensor = 1.0,
    fake_target: float | torch.Tensor = 0.0,
    lambda_e: float = LAMBDA_E,
) -> torch.Tensor:
    """Eq. 4 as a loss to minimise: BCE(D(real), real) + BCE(D(G), fake) + lambda_E L_E (Eq. 2).
    The discriminator computes E_hat from the images, so L_E carries no gradient to its weights
    (as in the paper); the targets may be flipped labels (label switching)."""
    adversarial = bce_logits(logit_real, real_target) + bce_logits(logit_fake, fake_target)
    energy_term = mae(e_hat_real, energy_real) + mae(e_hat_fake, energy_fake)
    return adversarial + lambda_e * energy_term


class CaloGAN(LatentGAN):
    """CaloGAN (Paganini et al. 2018) on the ``layers`` view of any geometry; see the module
    docstring. Paper preset: Sect. IV and the CaloGAN code; ``small``: narrower streams for
    two CPU cores, lambda_E = 0.2 (0.05 leaves generated totals off by ~20% after a few
    hundred steps), 25 epochs and a moving average of the generator (decay 0.995, ~200 steps):
    on 5000 photons in ``calogan`` they took the FPD from 6200 (10 epochs) to 3200 (25) and
    2600 (25, averaged)."""

    name = "calogan"
    description = "CaloGAN: per-layer LAGAN streams with attention (Paganini et al. 2018)"
    view = "layers"
    conditions = ("energy",)
    phase_networks: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "critic": ("discriminator",),
        "generator": ("generator",),
    }
    defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {
            "latent": 1024,
            "max_stream_layers": 8,
            "dense_channels": 36,
            "conv_filters": 16,
            "lc_filters": 6,
            "attention": True,
            "disc_conv_filters": 64,
            "disc_lc_filters": [16, 8, 8],
            "mbd_kernels": 10,
            "mbd_dims": 10,
            "lambda_e": LAMBDA_E,
            "lr_generator": 2e-4,
            "lr_discriminator": 2e-5,
            "betas": [0.5, 0.999],
            "epochs": 50,
            "batch_size": 256,
            "n_critic": 1,
        },
        "small": {
            "latent": 128,
            "max_stream_layers": 8,
            "dense_channels": 8,
            "conv_filters": 8,
            "lc_filters": 4,
            "attention": True,
            "disc_conv_filters": 16,
            "disc_lc_filters": [8, 4, 4],
            "mbd_kernels": 5,
            "mbd_dims": 5,
            "lambda_e": 0.2,
            "lr_generator": 5e-4,
            "lr_discriminator": 5e-5,
            "betas": [0.5, 0.999],
            "epochs": 25,
            "ema": 0.995,
            "batch_size": 64,
            "n_critic": 1,
        },
    }

    def fit_normalisation(self, showers: Showers) -> None:
        """The core's units, and the mean visible fraction E_visible / E_incident of the
        training showers (``energy_response``), which turns the discriminator's E_tot into an
        estimate of the incident energy."""
        super().fit_normalisation(showers)
        total = showers.flat().sum(axis=1, dtype=np.float64)
        self._norm["energy_response"] = float(np.mean(total / showers.incident_energy))

    def build_networks(self) -> dict[str, nn.Module]:
        h, shapes, n = self.hparams, self.input_view.shapes, self.n_conditions
        generator = CaloGANGenerator(
            shapes,
            n,
            latent=int(h["latent"]),
            max_stream_layers=int(h["max_stream_layers"]),
            dense_channels=int(h["dense_channels"]),
            conv_filters=int(h["conv_filters"]),
            lc_filters=int(h["lc_filters"]),
            attention=bool(h["attention"]),
        )
        discriminator = CaloGANDiscriminator(
            shapes,
            n,
            max_stream_layers=int(h["max_stream_layers"]),
            conv_filters=int(h["disc_conv_filters"]),
            lc_filters=[int(f) for f in h["disc_lc_filters"]],
            mbd_kernels=int(h["mbd_kernels"]),
            mbd_dims=int(h["mbd_dims"]),
            energy_response=self.unit("energy_response", 1.0),
            image_unit_gev=self.unit("image_unit_gev", 1.0),
            energy_unit_gev=self.unit("energy_unit_gev", 100.0),
        )
        return {"generator": generator, "discriminator": discriminator}

    def loss(
        self, phase: str, nets: Mapping[str, nn.Module], batch: GenBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        d, n = nets["discriminator"], len(batch.cond)
        energy = batch.energy_gev.view(n, 1)
        if phase == "critic":
            fake = [f.detach() for f in self.generated(nets, batch.cond)]
            logit_real, e_real = d(batch.real, batch.cond)  # one batch real, one generated
            logit_fake, e_fake = d(fake, batch.cond)
            loss = calogan_discriminator_loss(
                logit_real,
                logit_fake,
                e_real,
                energy,
                e_fake,
                energy,
                real_target=self.targets(n, True, energy.device),
                fake_target=self.targets(n, False, energy.device),
                lambda_e=float(self.hparams["lambda_e"]),
            )
            return loss, {"e_error_real_gev": mae(e_real, energy).item()}
        logit, e_hat = d(self.generated(nets, batch.cond), batch.cond)
        loss = calogan_generator_loss(logit, e_hat, energy, float(self.hparams["lambda_e"]))
        return loss, {"e_error_fake_gev": mae(e_hat, energy).item()}
