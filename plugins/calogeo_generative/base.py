"""What the three GAN model classes share on top of :class:`calogeo.generative.GenerativeModel`:
drawing the latent vector and the generator's output, and the real/fake targets of BCE losses
with label switching.

Energy scaling (hparam ``energy_scaled``, on in the ``small`` presets of 3DGAN and the WGAN;
CaloGAN already multiplies its latent vector by E, and both together overshoot at high E): the
generator's output
is multiplied by the energy condition E / ``energy_unit_gev`` (0.1-1 for 10-100 GeV showers),
so the network only learns the response E_visible / E and the shape, which vary slowly with E,
instead of a scale that spans a factor 10; the losses still see showers in image units. The
papers' presets keep their own conventions (CaloGAN multiplies the latent vector by E, 3DGAN and
the WGAN condition on E only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from calogeo.adversarial import real_fake_targets
from calogeo.generative import GenerativeModel


class LatentGAN(GenerativeModel):
    """A generator ``nets["generator"](z, cond)`` with a ``latent`` width, fed N(0, 1) numbers
    (``latent_law = "normal"``) or uniform ones in [-1, 1] (``"uniform"``)."""

    latent_law: ClassVar[str] = "normal"

    def latent(
        self, nets: Mapping[str, nn.Module], cond: torch.Tensor, generator: Any = None
    ) -> torch.Tensor:
        """(N, latent) random numbers for conditions ``cond``."""
        width = int(nets["generator"].latent)
        if self.latent_law == "uniform":
            u = torch.rand(len(cond), width, generator=generator, device=cond.device)
            return u * 2 - 1
        return torch.randn(len(cond), width, generator=generator, device=cond.device)

    def generated(
        self, nets: Mapping[str, nn.Module], cond: torch.Tensor, generator: Any = None
    ) -> list[torch.Tensor]:
        """The generator's arrays (network units) for ``cond``, times (E / ``energy_unit_gev``)
        ^ ``output_power`` where ``energy_scaled``."""
        out = nets["generator"](self.latent(nets, cond, generator), cond)
        if not self.hparams.get("energy_scaled", False):
            return out
        return [x * energy_factor(cond, x.dim(), self.output_power()) for x in out]

    def generation_networks(self) -> dict[str, nn.Module]:
        """The core's choice (the moving average where kept), with the generator swapped for
        its inference form where it has one (same numbers, fewer operations)."""
        nets = super().generation_networks()
        nets["generator"] = inference_form(self, "generator", nets["generator"])
        return nets

    def sample(
        self, nets: Mapping[str, nn.Module], cond: torch.Tensor, generator: Any = None
    ) -> list[torch.Tensor]:
        return self.generated(nets, cond, generator)

    def targets(self, n: int, real: bool, device: Any) -> torch.Tensor:
        """(n, 1) BCE targets with the trainer's label switching."""
        return real_fake_targets(n, real, self.label_switch, device).view(n, 1)

    @classmethod
    def extra_hparams(cls) -> tuple[str, ...]:
        return (*super().extra_hparams(), "energy_scaled")

    def output_power(self) -> float:
        """The generator's output is (image units)^``output_power()`` (3DGAN: 0.85)."""
        return 1.0

    def unit(self, key: str, default: float) -> float:
        """A fitted unit of the normalisation, or ``default`` before fitting."""
        return float(self.normalisation().get(key, default))


def inference_form(owner: object, slot: str, net: nn.Module) -> nn.Module:
    """``net.for_inference()`` where ``net`` has one (else ``net``), cached on ``owner`` under
    ``slot`` and rebuilt only when a weight changed (an optimiser step or a load bumps the
    tensors' version counters)."""
    if not hasattr(net, "for_inference"):
        return net
    key = (id(net), tuple(t._version for t in net.state_dict().values()))
    cache = owner.__dict__.setdefault("_inference_forms", {})
    if slot not in cache or cache[slot][0] != key:
        cache[slot] = (key, net.for_inference())
    return cache[slot][1]


def energy_factor(cond: torch.Tensor, dim: int, power: float = 1.0) -> torch.Tensor:
    """The energy condition (first column of ``cond``, E / ``energy_unit_gev``) ^ ``power``,
    shaped (N, 1, ...) to broadcast over arrays of ``dim`` dimensions."""
    e = cond[:, 0].clamp(min=1e-6)
    if power != 1.0:
        e = e.pow(power)
    return e.view(-1, *([1] * (dim - 1)))
