"""What the three GAN model classes share on top of :class:`calogeo.generative.GenerativeModel`:
drawing the latent vector and the generator's output, and the real/fake targets of BCE losses
with label switching."""

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

    def latent(self, nets: Mapping[str, nn.Module], cond: torch.Tensor, generator: Any = None):
        """(N, latent) random numbers for conditions ``cond``."""
        width = int(nets["generator"].latent)
        if self.latent_law == "uniform":
            u = torch.rand(len(cond), width, generator=generator, device=cond.device)
            return u * 2 - 1
        return torch.randn(len(cond), width, generator=generator, device=cond.device)

    def generated(
        self, nets: Mapping[str, nn.Module], cond: torch.Tensor, generator: Any = None
    ) -> list[torch.Tensor]:
        """The generator's arrays (network units) for ``cond``."""
        return nets["generator"](self.latent(nets, cond, generator), cond)

    def sample(
        self, nets: Mapping[str, nn.Module], cond: torch.Tensor, generator: Any = None
    ) -> list[torch.Tensor]:
        return self.generated(nets, cond, generator)

    def targets(self, n: int, real: bool, device: Any) -> torch.Tensor:
        """(n, 1) BCE targets with the trainer's label switching."""
        return real_fake_targets(n, real, self.label_switch, device).view(n, 1)

    def unit(self, key: str, default: float) -> float:
        """A fitted unit of the normalisation, or ``default`` before fitting."""
        return float(self.normalisation().get(key, default))
