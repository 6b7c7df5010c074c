"""A small WGAN-GP written against the generative protocol the way a plugin writes one, for the
tests of the generative core and its command line."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import nn

from calogeo import hookimpl
from calogeo.adversarial import gradient_penalty
from calogeo.generative import GenerativeModel

LATENT = 8


class Cube(nn.Module):
    """Latent + conditions -> every view input, non-negative."""

    def __init__(self, shapes, n_cond):
        super().__init__()
        self.shapes = shapes
        size = sum(int(np.prod(s)) for s in shapes)
        self.net = nn.Sequential(nn.Linear(LATENT + n_cond, 32), nn.ReLU(), nn.Linear(32, size))

    def forward(self, z, cond):
        out = torch.relu(self.net(torch.cat([z, cond], dim=1)))
        pieces, first = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape))
            pieces.append(out[:, first : first + size].reshape(len(z), *shape))
            first += size
        return pieces


class Critic(nn.Module):
    def __init__(self, shapes, n_cond):
        super().__init__()
        size = sum(int(np.prod(s)) for s in shapes)
        self.net = nn.Sequential(nn.Linear(size + n_cond, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

    def forward(self, arrays, cond):
        flat = torch.cat([a.reshape(len(cond), -1) for a in arrays], dim=1)
        return self.net(torch.cat([flat, cond], dim=1)).squeeze(1)


class TinyWGAN(GenerativeModel):
    name = "tiny_wgan"
    description = "test WGAN-GP"
    view = "voxels"
    defaults: ClassVar = {
        "paper": {
            "epochs": 2,
            "batch_size": 16,
            "n_critic": 2,
            "lr_generator": 1e-3,
            "lr_critic": 1e-3,
        },
        "small": {
            "epochs": 2,
            "batch_size": 16,
            "n_critic": 2,
            "lr_generator": 1e-3,
            "lr_critic": 1e-3,
        },
    }

    def build_networks(self):
        shapes = self.input_view.shapes
        return {
            "generator": Cube(shapes, self.n_conditions),
            "critic": Critic(shapes, self.n_conditions),
        }

    def sample(self, nets, cond, generator=None):
        z = torch.randn(len(cond), LATENT, generator=generator, device=cond.device)
        return nets["generator"](z, cond)

    def loss(self, phase, nets, batch):
        fake = self.sample(nets, batch.cond)
        critic = nets["critic"]
        if phase == "critic":
            fake = [f.detach() for f in fake]
            w = critic(batch.real, batch.cond).mean() - critic(fake, batch.cond).mean()
            gp = gradient_penalty(lambda x: critic(x, batch.cond), batch.real, fake)
            return -w + gp, {"wasserstein": w.item()}
        return -critic(fake, batch.cond).mean(), {}


class ThetaWGAN(TinyWGAN):
    name = "theta_wgan"
    conditions = ("energy", "theta")


class Plugin:
    @hookimpl
    def calogeo_register_models(self, register):
        register(TinyWGAN)
        register(ThetaWGAN)
